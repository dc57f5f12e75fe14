#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGPIOD
import HAL
import Synchronization
import SystemCalls

/// A GPIO chip (`/dev/gpiochipN`) opened through libgpiod 1.6, the character-device API
/// (never sysfs GPIO). Lines requested from it are ``LinuxOutputLine`` and ``LinuxInputLine``.
///
/// ## Contract
/// - Opens by name (`gpiochip0`), label (`pinctrl-bcm2711`), path (`/dev/gpiochip0`) or number
///   (`0`) — `gpiod_chip_open_lookup`.
/// - Lines are addressed by offset (``GPIOLineConfig/offset``); ``offset(ofLineNamed:)`` turns a
///   line name from the device tree (`GPIO17`) into one.
/// - The chip stays open while any line requested from it is alive; each line is released when
///   it is deinitialized.
/// - Errors say what to do: a missing chip lists the chips present with their labels; a busy line
///   names the consumer holding it; EACCES tells how to join the gpio group.
public final class LinuxGPIOChip: Sendable {
    /// The kernel's name (`gpiochip0`).
    public let name: String
    /// The driver's label (`pinctrl-bcm2711`, or a gpio-sim bank's label).
    public let label: String
    public let lineCount: Int

    /// libgpiod's chip object; every libgpiod call that touches the chip's line table holds `lock`
    /// (libgpiod 1.6 is not thread-safe per chip).
    nonisolated(unsafe) let handle: OpaquePointer
    let lock = Mutex(())

    public static let groupHint = "add the user to the gpio group: sudo usermod -aG gpio $USER, then log in again"

    /// Opens a chip by name, label, path or number.
    /// - Throws: `GPIOError` `.noSuchChip` (listing the chips present), `.permissionDenied`, `.io`.
    public init(_ descriptor: String) throws(GPIOError) {
        do {
            handle = try POSIX.call("gpiod_chip_open_lookup", descriptor) { gpiod_chip_open_lookup(descriptor) }
        } catch {
            throw Self.openError(descriptor, error)
        }
        name = gpiod_chip_name(handle).map { String(cString: $0) } ?? descriptor
        label = gpiod_chip_label(handle).map { String(cString: $0) } ?? ""
        lineCount = Int(gpiod_chip_num_lines(handle))
    }

    /// Opens `/dev/gpiochip<number>`.
    public convenience init(number: Int) throws(GPIOError) {
        try self.init(String(number))
    }

    deinit { gpiod_chip_close(handle) }

    /// The offset of the line the device tree (or gpio-sim) names `lineName`.
    public func offset(ofLineNamed lineName: String) throws(GPIOError) -> Int {
        let found: Result<OpaquePointer, SystemError> = lock.withLock { _ in
            Result { () throws(SystemError) -> OpaquePointer in
                try POSIX.call("gpiod_chip_find_line", lineName) { gpiod_chip_find_line(handle, lineName) }
            }
        }
        switch found {
        case .success(let line):
            return Int(gpiod_line_offset(line))
        case .failure(let error) where error.errno == ENOENT:
            throw GPIOError(.noSuchLine, chip: name, detail: "no line named '\(lineName)' on \(name) (\(label)); gpioinfo \(name) lists the names")
        case .failure(let error):
            throw GPIOError(.io, chip: name, detail: "\(error)")
        }
    }

    /// Who holds line `offset` now (`nil` when it is free); what `gpioinfo` shows.
    public func consumer(ofLine offset: Int) throws(GPIOError) -> String? {
        let result: Result<String?, GPIOError> = lock.withLock { _ in
            Result { () throws(GPIOError) -> String? in
                let line = try lineHandle(offset)
                return holder(of: line)
            }
        }
        return try result.get()
    }

    /// Requests line `config.offset` as an output driving logical `initial`.
    public func requestOutput(_ config: GPIOLineConfig, initial: Bool = false) throws(GPIOError) -> LinuxOutputLine {
        let line = try request(config, "gpiod_line_request_output_flags") { line, flags in
            gpiod_line_request_output_flags(line, config.consumer, flags, initial ? 1 : 0)
        }
        return LinuxOutputLine(chip: self, line: line, config: config, initial: initial)
    }

    /// Requests line `config.offset` as an input with both-edge events.
    public func requestInput(_ config: GPIOLineConfig) throws(GPIOError) -> LinuxInputLine {
        let line = try request(config, "gpiod_line_request_both_edges_events_flags") { line, flags in
            gpiod_line_request_both_edges_events_flags(line, config.consumer, flags)
        }
        let level: Int32
        do {
            level = try POSIX.call("gpiod_line_get_value") { gpiod_line_get_value(line) }
        } catch {
            release(line)
            throw GPIOError(.io, chip: name, offset: config.offset, detail: "\(error)")
        }
        return LinuxInputLine(chip: self, line: line, config: config, initialLevel: level != 0)
    }

    // MARK: Internals

    private func request(_ config: GPIOLineConfig, _ function: String,
                         _ call: (OpaquePointer, Int32) -> Int32) throws(GPIOError) -> OpaquePointer {
        let flags = config.activeLow ? Int32(GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) : 0
        let result: Result<LineHandle, GPIOError> = lock.withLock { _ in
            Result { () throws(GPIOError) -> LineHandle in
                let line = try lineHandle(config.offset)
                do throws(SystemError) {
                    try POSIX.call(function) { call(line, flags) }
                } catch {
                    throw requestError(error, line: line, offset: config.offset)
                }
                return LineHandle(pointer: line)
            }
        }
        return try result.get().pointer
    }

    /// Carries a line pointer out of the chip lock. Sound because the pointer is only used by the
    /// one line object that owns the request, under that object's own lock.
    private struct LineHandle: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    /// libgpiod's line object for `offset`, its info refreshed from the kernel. Call with `lock` held.
    private func lineHandle(_ offset: Int) throws(GPIOError) -> OpaquePointer {
        guard (0..<lineCount).contains(offset) else {
            throw GPIOError(.noSuchLine, chip: name, offset: offset,
                            detail: "no line \(offset) on \(name) (\(label)); it has lines 0…\(lineCount - 1)")
        }
        do {
            return try POSIX.call("gpiod_chip_get_line") { gpiod_chip_get_line(handle, UInt32(offset)) }
        } catch {
            throw GPIOError(.io, chip: name, offset: offset, detail: "\(error)")
        }
    }

    /// The consumer holding `line` per the kernel (refreshed), or `nil` when the line is free.
    private func holder(of line: OpaquePointer) -> String? {
        _ = gpiod_line_update(line)
        guard gpiod_line_is_used(line) else { return nil }
        guard let text = gpiod_line_consumer(line), text.pointee != 0 else { return "an unnamed consumer" }
        return String(cString: text)
    }

    private func requestError(_ error: SystemError, line: OpaquePointer, offset: Int) -> GPIOError {
        switch error.errno {
        case EBUSY:
            let holder = holder(of: line) ?? "another consumer"
            return GPIOError(.busy, chip: name, offset: offset,
                             detail: "line busy: held by consumer '\(holder)'; stop that program, remove the overlay or hog that claims it, or choose another line (gpioinfo \(name) shows holders)")
        case EACCES, EPERM:
            return GPIOError(.permissionDenied, chip: name, offset: offset,
                             detail: "\(error.operation): permission denied; \(Self.groupHint)")
        default:
            return GPIOError(.io, chip: name, offset: offset, detail: "\(error)")
        }
    }

    func release(_ line: OpaquePointer) {
        lock.withLock { _ in gpiod_line_release(line) }
    }

    /// Chips present in `/dev` with their labels: `gpiochip0 (pinctrl-bcm2711, 58 lines)`.
    public static func presentChips() -> [String] {
        deviceNodes(prefix: "gpiochip").map { node in
            guard let chip = gpiod_chip_open("/dev/\(node)") else {
                return "\(node) (cannot open: \(POSIX.describe(errno: errno)))"
            }
            defer { gpiod_chip_close(chip) }
            let label = gpiod_chip_label(chip).map { String(cString: $0) } ?? "?"
            return "\(node) (\(label), \(gpiod_chip_num_lines(chip)) lines)"
        }
    }

    static func openError(_ descriptor: String, _ error: SystemError) -> GPIOError {
        switch error.errno {
        case EACCES, EPERM:
            return GPIOError(.permissionDenied, chip: descriptor,
                             detail: "cannot open GPIO chip '\(descriptor)': permission denied; \(groupHint)")
        case ENOENT, ENODEV, ENOTTY:
            let chips = presentChips()
            let present = chips.isEmpty ? "no GPIO chips exist (/dev/gpiochip* is empty)" : "chips present: " + chips.joined(separator: ", ")
            return GPIOError(.noSuchChip, chip: descriptor,
                             detail: "no GPIO chip '\(descriptor)' (looked up by name, label, path and number); \(present)")
        default:
            return GPIOError(.io, chip: descriptor, detail: "cannot open GPIO chip '\(descriptor)': \(error)")
        }
    }
}
