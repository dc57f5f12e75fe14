import CGPIOD
import HAL
import Synchronization
import SystemCalls

/// An output line requested through libgpiod (consumer `config.consumer`, active-low applied by
/// the kernel). Released when deinitialized.
public final class LinuxOutputLine: GPIOOutputLine {
    public let config: GPIOLineConfig
    /// The chip it came from; kept open while the line lives.
    public let chip: LinuxGPIOChip
    /// CGPIOD's line request; only touched with `current` locked (or by the chip's release).
    nonisolated(unsafe) let line: OpaquePointer
    /// The last logical value written successfully.
    private let current: Mutex<Bool>

    init(chip: LinuxGPIOChip, line: OpaquePointer, config: GPIOLineConfig, initial: Bool) {
        self.chip = chip
        self.line = line
        self.config = config
        current = Mutex(initial)
    }

    public func set(_ value: Bool) throws(GPIOError) {
        let failure: SystemError? = current.withLock { current -> SystemError? in
            do throws(SystemError) {
                try POSIX.call("fa_gpio_line_set") { fa_gpio_line_set(line, value) }
                current = value
                return nil
            } catch {
                return error
            }
        }
        if let failure {
            throw GPIOError(.io, chip: chip.name, offset: config.offset, detail: "\(failure)")
        }
    }

    public var value: Bool { current.withLock { $0 } }

    deinit { chip.release(line) }
}
