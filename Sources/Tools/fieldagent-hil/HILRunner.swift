#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs named checks and prints one line each, `PASS name` or `FAIL name: reason`, as
/// scripts/kernel-hil.sh expects on the guest's serial console.
final class HILRunner {
    private(set) var passed = 0
    private(set) var failed = 0

    /// A failed expectation inside a check.
    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    func check(_ name: String, _ body: () throws -> Void) {
        do {
            try body()
            passed += 1
            emit("PASS \(name)")
        } catch {
            failed += 1
            emit("FAIL \(name): \(error)")
        }
    }

    func emit(_ line: String) {
        print(line)
        fflush(nil)  // all streams: the serial log must show each line as it happens
    }
}

/// Throws a ``HILRunner/Failure`` saying what was expected and what came instead.
func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw HILRunner.Failure(message()) }
}

func expectEqual<T: Equatable>(_ actual: T, _ expected: T, _ what: String) throws {
    if actual != expected { throw HILRunner.Failure("\(what): expected \(expected), got \(actual)") }
}

func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String($0, radix: 16, uppercase: true) }.map { $0.count == 1 ? "0" + $0 : $0 }.joined(separator: " ")
}

/// An environment variable set by the guest's init script.
func environment(_ name: String) throws -> String {
    guard let value = getenv(name) else { throw HILRunner.Failure("\(name) is not set (run through scripts/kernel-hil.sh)") }
    return String(cString: value)
}

/// Writes a sysfs attribute (gpio-sim's `pull`).
func writeAttribute(_ path: String, _ text: String) throws {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { throw HILRunner.Failure("open \(path): errno \(errno)") }
    defer { close(fd) }
    let bytes = Array(text.utf8)
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard written == bytes.count else { throw HILRunner.Failure("write \(text) to \(path): errno \(errno)") }
}

/// Reads a sysfs attribute (gpio-sim's `value`), trimmed.
func readAttribute(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw HILRunner.Failure("open \(path): errno \(errno)") }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 64)
    let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard count >= 0 else { throw HILRunner.Failure("read \(path): errno \(errno)") }
    return String(decoding: buffer[0..<count], as: UTF8.self).filter { !$0.isWhitespace }
}

func clockNow(_ clock: clockid_t) -> Duration {
    var now = timespec()
    clock_gettime(clock, &now)
    return Duration(secondsComponent: Int64(now.tv_sec), attosecondsComponent: Int64(now.tv_nsec) * 1_000_000_000)
}
