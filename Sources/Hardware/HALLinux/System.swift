#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed libc or libgpiod call: the errno and the function it came from (CONVENTIONS.md 10).
/// Internal: the public types translate it into ``I2CError``, ``LinuxI2COpenError`` or `GPIOError`.
struct SystemError: Error, Equatable, CustomStringConvertible {
    var errno: Int32
    /// The function that failed, e.g. `open`, `ioctl(I2C_RDWR)`, `gpiod_line_request_output_flags`.
    var operation: String

    var description: String { "\(operation) failed: \(errnoText(errno)) (errno \(errno))" }
}

/// The C library's text for an errno ("No such device").
func errnoText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return String(cString: text)
}

/// The one way HALLinux calls into C: runs `body` (a call that signals failure with a negative
/// result and errno), retries EINTR, throws ``SystemError`` named after the function, and traps on
/// errnos only a bug here can cause (EBADF: a closed descriptor; EFAULT: a bad pointer).
@discardableResult
func systemCall<Result: BinaryInteger>(_ operation: @autoclosure () -> String,
                                       _ body: () -> Result) throws(SystemError) -> Result {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = errno
        if code == EINTR { continue }
        trapOnProgrammerError(code, operation())
        throw SystemError(errno: code, operation: operation())
    }
}

/// ``systemCall(_:_:)`` for functions that return a pointer, `NULL` on failure.
func systemCall(_ operation: @autoclosure () -> String,
                _ body: () -> OpaquePointer?) throws(SystemError) -> OpaquePointer {
    while true {
        errno = 0
        if let pointer = body() { return pointer }
        let code = errno
        if code == EINTR { continue }
        trapOnProgrammerError(code, operation())
        throw SystemError(errno: code == 0 ? ENOENT : code, operation: operation())
    }
}

private func trapOnProgrammerError(_ code: Int32, _ operation: String) {
    if code == EBADF || code == EFAULT {
        preconditionFailure("\(operation): \(errnoText(code)) — a HALLinux bug (descriptor or pointer misuse)")
    }
}

/// Reads a small text file (sysfs attributes), without its trailing newline.
func readTextFile(_ path: String) throws(SystemError) -> String {
    let fd = try systemCall("open(\(path))") { open(path, O_RDONLY | O_CLOEXEC) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 256)
    while true {
        let count = try systemCall("read(\(path))") {
            chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        }
        if count == 0 { break }
        bytes += chunk[0..<count]
    }
    while let last = bytes.last, last == 0x0A || last == 0x00 { bytes.removeLast() }
    return String(decoding: bytes, as: UTF8.self)
}

/// Names in a directory that start with `prefix`, sorted by their trailing number
/// (`i2c-2` before `i2c-10`). An unreadable directory gives an empty list.
func directoryEntries(_ directory: String, prefix: String) -> [String] {
    guard let dir = opendir(directory) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafePointer(to: &entry.pointee.d_name) { pointer in
            pointer.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) {
                String(cString: $0)
            }
        }
        if name.hasPrefix(prefix) { names.append(name) }
    }
    return names.sorted { trailingNumber($0) ?? .max < trailingNumber($1) ?? .max }
}

/// The number at the end of `i2c-10` or `gpiochip3`.
func trailingNumber(_ name: String) -> Int? {
    let digits = name.reversed().prefix { $0.isNumber }
    return digits.isEmpty ? nil : Int(String(digits.reversed()))
}

/// CLOCK_MONOTONIC, the clock the kernel stamps GPIO edge events with (uAPI v1 since Linux 5.7).
func monotonicNow() -> Duration {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Duration(secondsComponent: Int64(now.tv_sec), attosecondsComponent: Int64(now.tv_nsec) * 1_000_000_000)
}

extension timespec {
    /// A non-negative duration as a `timespec` (negative becomes zero).
    init(_ duration: Duration) {
        let clamped = max(duration, .zero)
        let (seconds, attoseconds) = clamped.components
        self.init(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    }

    var duration: Duration {
        Duration(secondsComponent: Int64(tv_sec), attosecondsComponent: Int64(tv_nsec) * 1_000_000_000)
    }
}
