#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CGPIOD
import HAL
import Synchronization
import SystemCalls

/// A GPIO chip (`/dev/gpiochipN`) opened through libgpiod, the character-device API (never sysfs
/// GPIO), 1.6 or 2.x as built (`CGPIOD`). Lines requested from it are ``LinuxOutputLine`` and
/// ``LinuxInputLine``.
///
/// ## Contract
/// - Opens by name (`gpiochip0`), label (`pinctrl-bcm2711`, `pinctrl-rp1`), path (`/dev/gpiochip0`)
///   or number (`0`), looked up as libgpiod 1.6's `gpiod_chip_open_lookup` did.
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

    /// CGPIOD's chip object; every call that touches the chip's line table holds `lock`
    /// (libgpiod 1.6 is not thread-safe per chip).
    nonisolated(unsafe) let handle: OpaquePointer
    let lock = Mutex(())

    public static let groupHint = "add the user to the gpio group: sudo usermod -aG gpio $USER, then log in again"

    /// The libgpiod this process runs with, as it reports itself (`1.6.3`, `2.2.1`).
    public static var libraryVersion: String { String(cString: fa_gpio_library_version()) }
    /// The libgpiod API this package was compiled against: 1 or 2.
    public static var apiVersion: Int { Int(fa_gpio_api_major()) }

    /// Opens a chip by name, label, path or number.
    /// - Throws: `GPIOError` `.noSuchChip` (listing the chips present), `.permissionDenied`, `.io`.
    public init(_ descriptor: String) throws(GPIOError) {
        do {
            handle = try Self.lookup(descriptor)
        } catch {
            throw Self.openError(descriptor, error)
        }
        name = String(cString: fa_gpio_chip_name(handle))
        label = String(cString: fa_gpio_chip_label(handle))
        lineCount = Int(fa_gpio_chip_num_lines(handle))
    }

    /// Opens `/dev/gpiochip<number>`.
    public convenience init(number: Int) throws(GPIOError) {
        try self.init(String(number))
    }

    deinit { fa_gpio_chip_close(handle) }

    /// The offset of the line the device tree (or gpio-sim) names `lineName`.
    public func offset(ofLineNamed lineName: String) throws(GPIOError) -> Int {
        let found: Result<Int32, SystemError> = lock.withLock { _ in
            Result { () throws(SystemError) -> Int32 in
                try POSIX.call("fa_gpio_chip_find_line", lineName) { fa_gpio_chip_find_line(handle, lineName) }
            }
        }
        switch found {
        case .success(let offset):
            return Int(offset)
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
                try checkOffset(offset)
                do {
                    return try holder(of: offset)
                } catch {
                    throw GPIOError(.io, chip: name, offset: offset, detail: "\(error)")
                }
            }
        }
        return try result.get()
    }

    /// Requests line `config.offset` as an output driving logical `initial`.
    public func requestOutput(_ config: GPIOLineConfig, initial: Bool = false) throws(GPIOError) -> LinuxOutputLine {
        let line = try request(config, "fa_gpio_request_output") { chip, offset in
            fa_gpio_request_output(chip, offset, config.consumer, config.activeLow, initial)
        }
        return LinuxOutputLine(chip: self, line: line, config: config, initial: initial)
    }

    /// Requests line `config.offset` as an input with both-edge events, its bias left as it is.
    public func requestInput(_ config: GPIOLineConfig) throws(GPIOError) -> LinuxInputLine {
        let line = try request(config, "fa_gpio_request_input") { chip, offset in
            fa_gpio_request_input(chip, offset, config.consumer, config.activeLow, FA_GPIO_BIAS_AS_IS, FA_GPIO_EDGE_BOTH)
        }
        let level: Int32
        do {
            level = try POSIX.call("fa_gpio_line_get") { fa_gpio_line_get(line) }
        } catch {
            release(line)
            throw GPIOError(.io, chip: name, offset: config.offset, detail: "\(error)")
        }
        return LinuxInputLine(chip: self, line: line, config: config, initialLevel: level != 0)
    }

    // MARK: Internals

    private func request(_ config: GPIOLineConfig, _ function: String,
                         _ call: (OpaquePointer, UInt32) -> OpaquePointer?) throws(GPIOError) -> OpaquePointer {
        let result: Result<LineHandle, GPIOError> = lock.withLock { _ in
            Result { () throws(GPIOError) -> LineHandle in
                try checkOffset(config.offset)
                do throws(SystemError) {
                    let line = try POSIX.call(function) { call(handle, UInt32(config.offset)) }
                    return LineHandle(pointer: line)
                } catch {
                    throw requestError(error, offset: config.offset)
                }
            }
        }
        return try result.get().pointer
    }

    /// Carries a line pointer out of the chip lock. Sound because the pointer is only used by the
    /// one line object that owns the request, under that object's own lock.
    private struct LineHandle: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    private func checkOffset(_ offset: Int) throws(GPIOError) {
        guard (0..<lineCount).contains(offset) else {
            throw GPIOError(.noSuchLine, chip: name, offset: offset,
                            detail: "no line \(offset) on \(name) (\(label)); it has lines 0…\(lineCount - 1)")
        }
    }

    /// The consumer holding line `offset` per the kernel, or `nil` when the line is free. Call with
    /// `lock` held and `offset` checked.
    private func holder(of offset: Int) throws(SystemError) -> String? {
        // The kernel's consumer field holds 32 bytes with the terminator.
        var text = [CChar](repeating: 0, count: 64)
        let used = try POSIX.call("fa_gpio_chip_line_consumer") {
            text.withUnsafeMutableBufferPointer { fa_gpio_chip_line_consumer(handle, UInt32(offset), $0.baseAddress, $0.count) }
        }
        guard used != 0 else { return nil }
        let consumer = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return consumer.isEmpty ? "an unnamed consumer" : consumer
    }

    private func requestError(_ error: SystemError, offset: Int) -> GPIOError {
        switch error.errno {
        case EBUSY:
            let holder = (try? holder(of: offset)) ?? nil
            return GPIOError(.busy, chip: name, offset: offset,
                             detail: "line busy: held by consumer '\(holder ?? "another consumer")'; stop that program, remove the overlay or hog that claims it, or choose another line (gpioinfo \(name) shows holders)")
        case EACCES, EPERM:
            return GPIOError(.permissionDenied, chip: name, offset: offset,
                             detail: "\(error.operation): permission denied; \(Self.groupHint)")
        default:
            return GPIOError(.io, chip: name, offset: offset, detail: "\(error)")
        }
    }

    func release(_ line: OpaquePointer) {
        lock.withLock { _ in fa_gpio_line_release(line) }
    }

    /// The chip `descriptor` names: a number is `/dev/gpiochip<number>`; anything else is first
    /// compared with every chip's label, then taken as a path (`/dev/…`) or a name in `/dev`.
    private static func lookup(_ descriptor: String) throws(SystemError) -> OpaquePointer {
        if !descriptor.isEmpty, descriptor.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) {
            return try open("/dev/gpiochip\(descriptor)")
        }
        for node in deviceNodes(prefix: "gpiochip") {
            guard let chip = fa_gpio_chip_open("/dev/\(node)") else { continue }
            if String(cString: fa_gpio_chip_label(chip)) == descriptor { return chip }
            fa_gpio_chip_close(chip)
        }
        return try open(descriptor.hasPrefix("/dev/") ? descriptor : "/dev/\(descriptor)")
    }

    private static func open(_ path: String) throws(SystemError) -> OpaquePointer {
        try POSIX.call("fa_gpio_chip_open", path) { fa_gpio_chip_open(path) }
    }

    /// Chips present in `/dev` with their labels: `gpiochip0 (pinctrl-bcm2711, 58 lines)`.
    public static func presentChips() -> [String] {
        deviceNodes(prefix: "gpiochip").map { node in
            guard let chip = fa_gpio_chip_open("/dev/\(node)") else {
                return "\(node) (cannot open: \(POSIX.describe(errno: errno)))"
            }
            defer { fa_gpio_chip_close(chip) }
            return "\(node) (\(String(cString: fa_gpio_chip_label(chip))), \(fa_gpio_chip_num_lines(chip)) lines)"
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
