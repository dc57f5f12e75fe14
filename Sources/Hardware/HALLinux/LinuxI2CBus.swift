#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CLinuxI2C
import HAL
import Synchronization
import SystemCalls

/// An I2C bus on Linux: one `/dev/i2c-N` file descriptor (i2c-dev), shared by every driver on the
/// bus.
///
/// ## Contract
/// - Opened with `O_RDWR | O_CLOEXEC`; `I2C_FUNCS` is read once at open into ``functionality``.
/// - Adapter with `I2C_FUNC_I2C`: a transaction is exactly one `I2C_RDWR` ioctl, so
///   `[.write(reg), .read(count: n)]` goes out as `START addr+W reg Sr addr+R n STOP`.
/// - SMBus-only adapter: register-style transactions become one `I2C_SMBUS` ioctl each
///   (``SMBusPlan`` has the table); anything else throws ``I2CError/Kind/unsupported`` naming the
///   adapter. The target address is selected with `I2C_SLAVE` when it changes.
/// - Transactions are serialized by a lock; the descriptor is closed on deinit.
/// - Errors keep the errno; ``LinuxI2CErrno`` says which kind each errno becomes.
public final class LinuxI2CBus: I2CBus {
    /// The path as given (`/dev/i2c-1`).
    public let name: String
    /// The adapter's name from `/sys/class/i2c-dev/i2c-N/name` (`bcm2835 (i2c@7e804000)`,
    /// `SMBus stub driver`), or `unknown adapter` when sysfs does not say.
    public let adapterName: String
    /// The adapter's `I2C_FUNCS` mask, read at open.
    public let functionality: I2CFunctionality

    private let fd: CInt
    /// Held for a whole transaction; the value is the address last set with `I2C_SLAVE`.
    private let selectedAddress = Mutex<UInt8?>(nil)

    /// Opens `/dev/i2c-N`.
    /// - Throws: ``LinuxI2COpenError`` whose message carries the fix (enable I2C, join the i2c group, …).
    public init(path: String) throws(LinuxI2COpenError) {
        let fd: CInt
        do {
            fd = try POSIX.call("open", path) { open(path, O_RDWR | O_CLOEXEC) }
        } catch {
            throw LinuxI2COpenError(path: path, errno: error.errno, operation: "open",
                                    present: error.errno == ENOENT ? Self.presentAdapters() : [])
        }
        var mask: UInt = 0
        do {
            try POSIX.call("ioctl", "I2C_FUNCS") { CLinuxI2C_funcs(fd, &mask) }
        } catch {
            close(fd)
            throw LinuxI2COpenError(path: path, errno: error.errno, operation: "ioctl(I2C_FUNCS)")
        }
        self.fd = fd
        self.name = path
        self.functionality = I2CFunctionality(rawValue: mask)
        self.adapterName = Self.adapterName(path: path) ?? "unknown adapter"
    }

    /// Opens `/dev/i2c-<number>`.
    public convenience init(number: Int) throws(LinuxI2COpenError) {
        try self.init(path: "/dev/i2c-\(number)")
    }

    deinit { close(fd) }

    public func transaction(_ address: I2CAddress, _ operations: [I2COperation]) throws(I2CError) -> [[UInt8]] {
        let result: Result<[[UInt8]], I2CError> = selectedAddress.withLock { selected in
            do throws(I2CError) {
                if functionality.supportsPlainI2C {
                    return .success(try readWrite(address, operations))
                }
                return .success(try smbus(address, operations, selected: &selected))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    // MARK: I2C_RDWR

    private func readWrite(_ address: I2CAddress, _ operations: [I2COperation]) throws(I2CError) -> [[UInt8]] {
        func failure(_ kind: I2CError.Kind, _ detail: String, errno: Int32? = nil) -> I2CError {
            I2CError(kind, bus: name, address: address, operation: operations.summary, errno: errno, detail: detail)
        }
        guard !operations.isEmpty else { throw failure(.other, "a transaction needs at least one operation") }
        guard operations.count <= Int(CLinuxI2C_RDWR_MAX_MSGS) else {
            throw failure(.unsupported, "I2C_RDWR carries at most \(CLinuxI2C_RDWR_MAX_MSGS) messages; this transaction has \(operations.count)")
        }
        var lengths: [Int] = []
        for operation in operations {
            let length = switch operation {
            case .write(let bytes): bytes.count
            case .read(let count): count
            }
            guard (0...Int(UInt16.max)).contains(length) else {
                throw failure(.other, "message length \(length) is outside 0…65535")
            }
            lengths.append(length)
        }
        // One buffer for all messages: writes are copied in, reads land in their slices.
        var buffer = [UInt8](repeating: 0, count: max(1, lengths.reduce(0, +)))
        var offset = 0
        for (operation, length) in zip(operations, lengths) {
            if case .write(let bytes) = operation { buffer.replaceSubrange(offset..<offset + length, with: bytes) }
            offset += length
        }
        let outcome: Result<Int32, SystemError> = buffer.withUnsafeMutableBufferPointer { storage in
            guard let base = storage.baseAddress else { return .failure(SystemError(errno: EINVAL, function: "ioctl", subject: "I2C_RDWR")) }
            var messages: [CLinuxI2C_msg] = []
            var start = 0
            for (operation, length) in zip(operations, lengths) {
                let flags: UInt16 = if case .read = operation { UInt16(CLinuxI2C_M_RD) } else { 0 }
                messages.append(CLinuxI2C_msg(addr: UInt16(address.rawValue), flags: flags, len: UInt16(length), buf: base + start))
                start += length
            }
            return messages.withUnsafeMutableBufferPointer { list in
                Result { () throws(SystemError) -> Int32 in
                    try POSIX.call("ioctl", "I2C_RDWR") { CLinuxI2C_rdwr(fd, list.baseAddress, UInt32(list.count)) }
                }
            }
        }
        switch outcome {
        case .failure(let error):
            throw kernelError(error, address: address, operations: operations)
        case .success(let transferred) where Int(transferred) != operations.count:
            throw failure(.other, "the adapter transferred \(transferred) of \(operations.count) messages")
        case .success:
            break
        }
        var reads: [[UInt8]] = []
        offset = 0
        for (operation, length) in zip(operations, lengths) {
            if case .read = operation { reads.append(Array(buffer[offset..<offset + length])) }
            offset += length
        }
        return reads
    }

    // MARK: I2C_SMBUS

    private func smbus(_ address: I2CAddress, _ operations: [I2COperation],
                       selected: inout UInt8?) throws(I2CError) -> [[UInt8]] {
        let steps: [SMBusStep]
        switch SMBusPlan.plan(operations, functionality: functionality) {
        case .success(let planned): steps = planned
        case .failure(let error):
            throw I2CError(.unsupported, bus: name, address: address, operation: operations.summary,
                           detail: "adapter '\(adapterName)' is SMBus-only (no I2C_FUNC_I2C): \(error.reason)")
        }
        if selected != address.rawValue {
            do {
                try POSIX.call("ioctl", "I2C_SLAVE") { CLinuxI2C_set_address(fd, UInt(address.rawValue)) }
            } catch {
                selected = nil
                throw kernelError(error, address: address, operations: operations)
            }
            selected = address.rawValue
        }
        var reads: [[UInt8]] = []
        for step in steps {
            let request = step.request
            var data = request.data
            do {
                try POSIX.call("ioctl", "I2C_SMBUS, \(step)") {
                    data.withUnsafeMutableBufferPointer {
                        CLinuxI2C_smbus(fd, request.readWrite, request.command, request.size, $0.baseAddress)
                    }
                }
            } catch {
                throw kernelError(error, address: address, operations: operations)
            }
            guard step.readCount > 0 else { continue }
            guard let bytes = step.readResult(data) else {
                throw I2CError(.other, bus: name, address: address, operation: operations.summary,
                               detail: "\(step): adapter '\(adapterName)' returned \(data.first ?? 0) of \(step.readCount) bytes")
            }
            reads.append(bytes)
        }
        return reads
    }

    private func kernelError(_ error: SystemError, address: I2CAddress, operations: [I2COperation]) -> I2CError {
        var detail = "\(error.operation) on adapter '\(adapterName)': \(error.reason)"
        if let hint = LinuxI2CErrno.hint(error.errno, operation: error.operation) { detail += "; \(hint)" }
        return I2CError(LinuxI2CErrno.kind(error.errno), bus: name, address: address,
                        operation: operations.summary, errno: error.errno, detail: detail)
    }

    // MARK: sysfs

    /// The adapter name sysfs gives for `path` (following a symlink such as `/dev/i2c-arm`).
    static func adapterName(path: String) -> String? {
        var resolved = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let real = realpath(path, &resolved) != nil
            ? String(decoding: resolved.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : path
        guard let node = real.split(separator: "/").last else { return nil }
        return try? POSIX.readTextFile("/sys/class/i2c-dev/\(node)/name")
    }

    /// `/dev/i2c-0 (SMBus stub driver)` for every adapter present.
    static func presentAdapters() -> [String] {
        deviceNodes(prefix: "i2c-").map { node in
            let name = (try? POSIX.readTextFile("/sys/class/i2c-dev/\(node)/name")) ?? "unknown adapter"
            return "/dev/\(node) (\(name))"
        }
    }
}
