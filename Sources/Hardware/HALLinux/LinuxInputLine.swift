#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGPIOD
import HAL
import Synchronization
import SystemCalls

/// An input line requested through libgpiod with both-edge events (consumer `config.consumer`,
/// active-low applied by the kernel, so values and edges are logical). Released when deinitialized.
///
/// ## Contract
/// - ``waitForEdge(timeout:)`` blocks in `gpiod_line_event_wait` (ppoll on the line's event fd):
///   no busy polling. Edges carry the kernel's CLOCK_MONOTONIC timestamp.
/// - Raw edges pass through HAL's ``Debouncer`` with `config.debounce`; edges read together are
///   queued and handed out one per call.
public final class LinuxInputLine: GPIOInputLine {
    public let config: GPIOLineConfig
    public let chip: LinuxGPIOChip
    /// libgpiod's line object: values are read without a lock (a kernel ioctl on the request fd);
    /// event waiting and reading hold `events`.
    nonisolated(unsafe) let line: OpaquePointer

    private struct EventState {
        var debouncer: Debouncer
        var pending: [GPIOEdgeEvent] = []
    }
    private let events: Mutex<EventState>

    /// Edges read from the kernel per `read` call.
    private static let batch = 16

    init(chip: LinuxGPIOChip, line: OpaquePointer, config: GPIOLineConfig, initialLevel: Bool) {
        self.chip = chip
        self.line = line
        self.config = config
        events = Mutex(EventState(debouncer: Debouncer(interval: config.debounce, initialLevel: initialLevel)))
    }

    public func get() throws(GPIOError) -> Bool {
        do {
            return try POSIX.call("gpiod_line_get_value") { gpiod_line_get_value(line) } != 0
        } catch {
            throw GPIOError(.io, chip: chip.name, offset: config.offset, detail: "\(error)")
        }
    }

    public func waitForEdge(timeout: Duration) throws(GPIOError) -> GPIOEdgeEvent? {
        let deadline = monotonicNow() + timeout
        let result: Result<GPIOEdgeEvent?, SystemError> = events.withLock { state in
            do throws(SystemError) {
                while state.pending.isEmpty {
                    let ready = try POSIX.call("gpiod_line_event_wait") {
                        var remaining = timespec(deadline - monotonicNow())
                        return gpiod_line_event_wait(line, &remaining)
                    }
                    if ready == 0 { return .success(nil) }
                    try readEvents(into: &state)
                }
                return .success(state.pending.removeFirst())
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let event): return event
        case .failure(let error): throw GPIOError(.io, chip: chip.name, offset: config.offset, detail: "\(error)")
        }
    }

    /// Reads what the kernel has queued and keeps the edges the debouncer accepts.
    private func readEvents(into state: inout EventState) throws(SystemError) {
        var raw = [gpiod_line_event](repeating: gpiod_line_event(), count: Self.batch)
        let count = try POSIX.call("gpiod_line_event_read_multiple") {
            raw.withUnsafeMutableBufferPointer {
                gpiod_line_event_read_multiple(line, $0.baseAddress, UInt32($0.count))
            }
        }
        for event in raw.prefix(Int(count)) {
            let edge: GPIOEdge = event.event_type == Int32(GPIOD_LINE_EVENT_RISING_EDGE) ? .rising : .falling
            if let accepted = state.debouncer.accept(GPIOEdgeEvent(edge: edge, time: event.ts.duration)) {
                state.pending.append(accepted)
            }
        }
    }

    deinit { chip.release(line) }
}
