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
/// - ``waitForEdge(timeout:)`` blocks in libgpiod's wait (ppoll on the request's event fd):
///   no busy polling. Edges carry the kernel's CLOCK_MONOTONIC timestamp.
/// - Raw edges pass through HAL's ``Debouncer`` with `config.debounce`; edges read together are
///   queued and handed out one per call.
public final class LinuxInputLine: GPIOInputLine {
    public let config: GPIOLineConfig
    public let chip: LinuxGPIOChip
    /// CGPIOD's line request: values are read without a lock (a kernel ioctl on the request fd);
    /// event waiting and reading hold `events`.
    nonisolated(unsafe) let line: OpaquePointer

    private struct EventState {
        var debouncer: Debouncer
        var pending: [GPIOEdgeEvent] = []
    }
    private let events: Mutex<EventState>

    init(chip: LinuxGPIOChip, line: OpaquePointer, config: GPIOLineConfig, initialLevel: Bool) {
        self.chip = chip
        self.line = line
        self.config = config
        events = Mutex(EventState(debouncer: Debouncer(interval: config.debounce, initialLevel: initialLevel)))
    }

    public func get() throws(GPIOError) -> Bool {
        do {
            return try POSIX.call("fa_gpio_line_get") { fa_gpio_line_get(line) } != 0
        } catch {
            throw GPIOError(.io, chip: chip.name, offset: config.offset, detail: "\(error)")
        }
    }

    public func waitForEdge(timeout: Duration) throws(GPIOError) -> GPIOEdgeEvent? {
        let deadline = monotonicNow() + timeout
        let result: Result<GPIOEdgeEvent?, SystemError> = events.withLock { state in
            do throws(SystemError) {
                while state.pending.isEmpty {
                    let ready = try POSIX.call("fa_gpio_line_wait") {
                        fa_gpio_line_wait(line, nanoseconds(deadline - monotonicNow()))
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
        var raw = [fa_gpio_event](repeating: fa_gpio_event(), count: Int(FA_GPIO_EVENT_BATCH))
        let count = try POSIX.call("fa_gpio_line_read_events") {
            raw.withUnsafeMutableBufferPointer {
                fa_gpio_line_read_events(line, $0.baseAddress, UInt32($0.count))
            }
        }
        for event in raw.prefix(Int(count)) {
            let time = Duration.nanoseconds(Int64(clamping: event.timestamp_ns))
            if let accepted = state.debouncer.accept(GPIOEdgeEvent(edge: event.rising ? .rising : .falling, time: time)) {
                state.pending.append(accepted)
            }
        }
    }

    deinit { chip.release(line) }
}
