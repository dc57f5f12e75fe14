#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed libc call: the function, the path or socket it was about, and errno.
public struct HubSystemError: Error, Sendable, CustomStringConvertible {
    public var function: String
    public var subject: String
    public var errno: Int32

    public var description: String {
        let reason = strerror(errno).map { String(cString: $0) } ?? "errno \(errno)"
        return "\(function)(\(subject)) failed: \(reason) (errno \(errno))"
    }
}

/// The one place LocalHub calls libc (CONVENTIONS.md 10): each call retries `EINTR` and throws
/// a ``HubSystemError`` named after the function.
enum HubSystem {
    @discardableResult
    static func call<T: FixedWidthInteger>(_ function: String, _ subject: String,
                                           _ body: () -> T) throws(HubSystemError) -> T {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = errno
            if code == EINTR { continue }
            throw HubSystemError(function: function, subject: subject, errno: code)
        }
    }

    /// `mkdir -p` with `mode` for the folders it creates.
    static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws(HubSystemError) {
        var built = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            built += "/" + part
            var info = stat()
            if stat(built, &info) == 0 { continue }
            do { try call("mkdir", built) { mkdir(built, mode) } } catch where error.errno == EEXIST { continue }
        }
    }

    static func openForAppend(_ path: String) throws(HubSystemError) -> Int32 {
        try call("open", path) { open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644) }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], subject: String = "fd") throws(HubSystemError) {
        var offset = 0
        while offset < bytes.count {
            let start = offset
            offset += try call("write", subject) {
                bytes.withUnsafeBytes { write(fd, $0.baseAddress.map { $0 + start }, $0.count - start) }
            }
        }
    }

    static func readFile(_ path: String) throws(HubSystemError) -> [UInt8] {
        let fd = try call("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = try call("read", path) { chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
        }
    }

    /// Writes `bytes` to `path` through a temporary file and a rename, so readers never see half.
    static func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws(HubSystemError) {
        let temporary = path + ".tmp"
        let fd = try call("open", temporary) { open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
        do {
            try writeAll(fd, bytes, subject: temporary)
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        try call("rename", path) { rename(temporary, path) }
    }

    static func close(_ fd: Int32) {
        // close(2) must not be retried on EINTR on Linux: the descriptor is released either way.
        _ = Glibc.close(fd)
    }

    static func unlink(_ path: String) throws(HubSystemError) {
        try call("unlink", path) { Glibc.unlink(path) }
    }

    static func chmod(_ path: String, _ mode: mode_t) throws(HubSystemError) {
        try call("chmod", path) { Glibc.chmod(path, mode) }
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// A blocking client connection to a Unix socket (the admin CLI's side).
    static func connectUnix(_ path: String) throws(HubSystemError) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else { throw HubSystemError(function: "connect", subject: path, errno: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
            raw[path.utf8.count] = 0
        }
        let fd = try call("socket", path) { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        do {
            let length = socklen_t(MemoryLayout<sockaddr_un>.size)
            try call("connect", path) {
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
                }
            }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// Up to `max` bytes; `[]` at end of stream.
    static func receive(_ fd: Int32, max: Int, subject: String) throws(HubSystemError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: max)
        let count = try call("read", subject) { buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } }
        return Array(buffer[0..<count])
    }

    /// `VmHWM` (peak resident set) of `/proc/{pid}/status` in kB, `nil` where there is no /proc.
    static func peakResidentKilobytes(pid: String = "self") -> Int? {
        guard let bytes = try? readFile("/proc/\(pid)/status") else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.dropFirst("VmHWM:".count).filter(\.isNumber))
        }
        return nil
    }
}
