#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed libc call: the function's name and the errno it left (CONVENTIONS.md 10).
///
/// Internal: the public errors (`IdentityError`) carry the same facts with the path they were about.
struct SystemError: Error, Sendable {
    var function: String
    var errno: Int32

    var reason: String { System.describe(errno: errno) }
}

/// The one place Identity calls libc. Every call retries `EINTR` and throws `SystemError` named
/// after the function; `EBADF` and `EFAULT` are bugs in this module, not conditions input can
/// cause, so they trap.
enum System {
    @discardableResult
    static func call<T: FixedWidthInteger>(_ function: String, _ body: () -> T) throws(SystemError) -> T {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = errno
            if code == EINTR { continue }
            precondition(code != EBADF && code != EFAULT, "\(function): errno \(code) is a programming error")
            throw SystemError(function: function, errno: code)
        }
    }

    static func describe(errno code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }

    /// The whole file, read with `open`/`read`/`close`.
    static func readFile(_ path: String) throws(SystemError) -> [UInt8] {
        let fd = try call("open") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { _ = close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = try call("read") { chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }

    /// Writes `bytes` to `path` (created or truncated) and sets `mode` with `fchmod`, so the
    /// process umask cannot widen or narrow it.
    static func writeFile(_ path: String, bytes: [UInt8], mode: mode_t) throws(SystemError) {
        let fd = try call("open") { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
        defer { _ = close(fd) }
        try call("fchmod") { fchmod(fd, mode) }
        var offset = 0
        while offset < bytes.count {
            let written = try call("write") {
                bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
            offset += written
        }
    }

    /// `stat` (follows symbolic links, as `open` does).
    static func status(_ path: String) throws(SystemError) -> stat {
        var info = stat()
        try call("stat") { stat(path, &info) }
        return info
    }

    static func isDirectory(_ info: stat) -> Bool { (info.st_mode & S_IFMT) == S_IFDIR }

    /// Creates `path` (one level) with `mode`; an existing directory is fine.
    static func makeDirectory(_ path: String, mode: mode_t) throws(SystemError) {
        do {
            try call("mkdir") { mkdir(path, mode) }
        } catch where error.errno == EEXIST {
            let info = try status(path)
            if !isDirectory(info) { throw SystemError(function: "mkdir", errno: ENOTDIR) }
        }
    }

    /// Names in a directory, sorted, without `.` and `..`.
    static func listDirectory(_ path: String) throws(SystemError) -> [String] {
        guard let directory = opendir(path) else {
            throw SystemError(function: "opendir", errno: errno)
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) {
                    String(cString: $0)
                }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}
