#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SystemCalls

/// `/dev/i2c-N` could not be opened or is not an I2C adapter. The message says what to do.
public struct LinuxI2COpenError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// ENOENT: the device node does not exist (I2C not enabled, `i2c-dev` not loaded, wrong number).
        case noSuchDevice
        /// EACCES/EPERM: the user may not open it.
        case permissionDenied
        /// The node exists but does not answer `I2C_FUNCS` (ENOTTY): not an i2c-dev node.
        case notAnI2CAdapter
        case other
    }

    public var kind: Kind
    public var path: String
    public var errno: Int32
    /// The call that failed (`open`, `ioctl(I2C_FUNCS)`).
    public var operation: String
    /// What the user should do, in one sentence.
    public var fix: String
    /// `/dev/i2c-*` nodes that do exist, with adapter names (for ``Kind/noSuchDevice``).
    public var present: [String]

    /// The fix for enabling I2C on a Raspberry Pi, quoted in ``Kind/noSuchDevice`` messages.
    public static let enableI2CHint =
        "enable I2C: dtparam=i2c_arm=on in /boot/firmware/config.txt or raspi-config → Interface Options → I2C"
    public static let groupHint =
        "add the user to the i2c group: sudo usermod -aG i2c $USER, then log in again"

    /// Builds the error for an `open`/`ioctl` failure on `path` (pure: `present` is passed in).
    public init(path: String, errno code: Int32, operation: String = "open", present: [String] = []) {
        self.path = path
        self.errno = code
        self.present = present
        switch code {
        case ENOENT, ENXIO, ENODEV:
            kind = .noSuchDevice
            fix = Self.enableI2CHint + " (then reboot); elsewhere load the driver: sudo modprobe i2c-dev"
        case EACCES, EPERM:
            kind = .permissionDenied
            fix = Self.groupHint
        case ENOTTY:
            kind = .notAnI2CAdapter
            fix = "\(path) is not an i2c-dev node; use a /dev/i2c-N path (i2cdetect -l lists them)"
        default:
            kind = .other
            fix = "check that \(path) is an I2C adapter (i2cdetect -l) and that no other program has broken it"
        }
        self.operation = operation
    }

    public var description: String {
        var text = "cannot use \(path): \(operation) failed: \(POSIX.describe(errno: errno)) (errno \(errno))"
        if kind == .noSuchDevice {
            text += present.isEmpty ? "; no /dev/i2c-* devices exist" : "; present: " + present.joined(separator: ", ")
        }
        return text + ". Fix: " + fix
    }
}
