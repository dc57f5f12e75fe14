#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed libc call: the function's name, the path it was given and errno.
public struct SystemCallError: Error, Equatable, Sendable, CustomStringConvertible {
    public var function: String
    public var path: String
    public var errno: Int32

    public var description: String {
        "\(function)(\(path)) failed: \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// The libc calls of this module, each retrying EINTR and throwing a ``SystemCallError`` named
/// after the function (CONVENTIONS.md 10). NIO does the socket calls; these touch the socket file.
enum System {
    private static func retrying(_ function: String, _ path: String, _ body: () -> Int32) throws(SystemCallError) {
        while true {
            if body() == 0 { return }
            let e = errno
            if e == EINTR { continue }
            throw SystemCallError(function: function, path: path, errno: e)
        }
    }

    static func chmod(_ path: String, mode: UInt32) throws(SystemCallError) {
        try retrying("chmod", path) { Glibc.chmod(path, mode_t(mode)) }
    }

    /// Removes `path`; a path that is already gone is not an error.
    static func unlink(_ path: String) throws(SystemCallError) {
        do throws(SystemCallError) {
            try retrying("unlink", path) { Glibc.unlink(path) }
        } catch where error.errno == ENOENT {
            return
        }
    }

    /// True when `path` exists and is a Unix socket.
    static func isSocket(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        return (info.st_mode & S_IFMT) == S_IFSOCK
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }
}
