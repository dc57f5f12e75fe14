#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed libc call: the function's name, the path and the errno it left (CONVENTIONS.md 10).
struct SystemError: Error, Sendable {
    var function: String
    var path: String
    var errno: Int32

    var reason: String { System.describe(errno: errno) }
    var description: String { "\(function) \(path): \(reason) (errno \(errno))" }
}

/// The one place Outbox calls libc (SQLite itself is reached only through GRDB). Every call
/// retries `EINTR` and throws `SystemError` named after the function; `EBADF` and `EFAULT` are
/// bugs in this module, not conditions input can cause, so they trap.
enum System {
    @discardableResult
    static func call<T: FixedWidthInteger>(_ function: String, _ path: String,
                                           _ body: () -> T) throws(SystemError) -> T {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = errno
            if code == EINTR { continue }
            precondition(code != EBADF && code != EFAULT, "\(function): errno \(code) is a programming error")
            throw SystemError(function: function, path: path, errno: code)
        }
    }

    static func describe(errno code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }

    /// Creates `path` and its missing parents with `mode`; existing directories are fine.
    static func makeDirectories(_ path: String, mode: mode_t) throws(SystemError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            var info = stat()
            if stat(prefix, &info) == 0 {
                if (info.st_mode & S_IFMT) != S_IFDIR {
                    throw SystemError(function: "mkdir", path: prefix, errno: ENOTDIR)
                }
                continue
            }
            do {
                try call("mkdir", prefix) { mkdir(prefix, mode) }
            } catch where error.errno == EEXIST {
                continue   // created meanwhile by someone else
            }
        }
    }

    /// Whether this process may create and write files in `path` (`access(W_OK | X_OK)`).
    static func checkWritableDirectory(_ path: String) throws(SystemError) {
        try call("access", path) { access(path, W_OK | X_OK) }
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    static func moveFile(_ from: String, to: String) throws(SystemError) {
        try call("rename", from) { rename(from, to) }
    }

    static func fileSize(_ path: String) throws(SystemError) -> Int64 {
        var info = stat()
        try call("stat", path) { stat(path, &info) }
        return Int64(info.st_size)
    }
}
