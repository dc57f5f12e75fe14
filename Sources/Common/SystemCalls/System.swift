#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CKernelClock

/// A failed C library call: its errno, the function, and the path or subject it was about.
///
/// `description` reads `open(/dev/i2c-1) failed: No such file or directory (errno 2)`; modules
/// that wrap it in their own public error keep the parts (``function``, ``subject``, ``reason``)
/// so their messages can say which device, key file or socket it was.
public struct SystemError: Error, Sendable, Hashable, CustomStringConvertible {
    public var errno: Int32
    /// The function that failed: `open`, `ioctl`, `gpiod_line_request_output_flags`.
    public var function: String
    /// The path, descriptor or request it was about (`/dev/i2c-1`, `I2C_RDWR`), when there is one.
    public var subject: String?

    public init(errno: Int32, function: String, subject: String? = nil) {
        self.errno = errno
        self.function = function
        self.subject = subject
    }

    /// `function(subject)`, or the function alone.
    public var operation: String { subject.map { "\(function)(\($0))" } ?? function }

    /// The C library's text for the errno ("No such file or directory").
    public var reason: String { POSIX.describe(errno: errno) }

    public var description: String { "\(operation) failed: \(reason) (errno \(errno))" }
}

/// The one place the package calls the C library for files, sockets and polling (the C
/// libraries it links, i2c-dev, libgpiod and OpenSSL, keep their own `C*` targets).
///
/// Every call retries `EINTR` and throws a ``SystemError`` named after the function. `EBADF`
/// and `EFAULT` can only come from a bug in the caller (a closed descriptor, a bad pointer),
/// never from input, so they trap.
public enum POSIX {
    /// Runs `body`, a call that reports failure with a negative result and `errno`.
    @discardableResult
    public static func call<Result: BinaryInteger>(_ function: @autoclosure () -> String,
                                                   _ subject: @autoclosure () -> String? = nil,
                                                   _ body: () -> Result) throws(SystemError) -> Result {
        while true {
            let result = body()
            if result >= 0 { return result }
            let code = errno
            if code == EINTR { continue }
            throw failure(code, function(), subject())
        }
    }

    /// ``call(_:_:_:)`` for functions that return a pointer, `NULL` (with `errno`) on failure.
    public static func call(_ function: @autoclosure () -> String,
                            _ subject: @autoclosure () -> String? = nil,
                            _ body: () -> OpaquePointer?) throws(SystemError) -> OpaquePointer {
        while true {
            errno = 0
            if let pointer = body() { return pointer }
            let code = errno
            if code == EINTR { continue }
            // A library that returns NULL without setting errno found nothing.
            throw failure(code == 0 ? ENOENT : code, function(), subject())
        }
    }

    private static func failure(_ code: Int32, _ function: String, _ subject: String?) -> SystemError {
        let error = SystemError(errno: code, function: function, subject: subject)
        if code == EBADF || code == EFAULT {
            preconditionFailure("\(error): descriptor or pointer misuse in the caller")
        }
        return error
    }

    /// The C library's text for `errno` ("No such device").
    public static func describe(errno code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }

    // MARK: Files

    /// The whole file.
    public static func readFile(_ path: String) throws(SystemError) -> [UInt8] {
        let fd = try call("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = try call("read", path) { chunk.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) } }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
        }
    }

    /// A small text file (a sysfs attribute, `/proc/self/status`) without its trailing newlines and NULs.
    public static func readTextFile(_ path: String) throws(SystemError) -> String {
        var bytes = try readFile(path)
        while let last = bytes.last, last == 0x0A || last == 0x00 { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Writes `bytes` to `path` (created or truncated) and sets `mode` with `fchmod`, so the
    /// process umask can neither widen nor narrow it.
    public static func writeFile(_ path: String, _ bytes: [UInt8], mode: UInt32) throws(SystemError) {
        let fd = try call("open", path) { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode_t(mode)) }
        defer { close(fd) }
        try call("fchmod", path) { fchmod(fd, mode_t(mode)) }
        try writeAll(fd, bytes, subject: path)
    }

    /// ``writeFile(_:_:mode:)`` to `path.tmp`, then a rename over `path`: readers see the old
    /// file or the new one, never half of it.
    public static func writeFileAtomically(_ path: String, _ bytes: [UInt8], mode: UInt32) throws(SystemError) {
        let temporary = path + ".tmp"
        try writeFile(temporary, bytes, mode: mode)
        try rename(temporary, to: path)
    }

    /// Like ``writeFileAtomically(_:_:mode:)``, and durable once it returns: the new file is
    /// fsynced before the rename and its folder after it (without the folder's fsync a power cut
    /// can bring the old name back, or no file at all).
    public static func writeFileDurably(_ path: String, _ bytes: [UInt8], mode: UInt32) throws(SystemError) {
        let temporary = path + ".tmp"
        try writeFile(temporary, bytes, mode: mode)
        let fd = try call("open", temporary) { open(temporary, O_WRONLY | O_CLOEXEC) }
        defer { close(fd) }
        try call("fsync", temporary) { fsync(fd) }
        try rename(temporary, to: path)
        try syncDirectory(containing: path)
    }

    /// Fsyncs the folder holding `path`, so a rename or a new name in it survives a power cut.
    public static func syncDirectory(containing path: String) throws(SystemError) {
        let folder = path.lastIndex(of: "/").map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let fd = try call("open", folder) { open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        try call("fsync", folder) { fsync(fd) }
    }

    /// A descriptor that appends to `path`, creating it with `mode`.
    public static func openForAppend(_ path: String, mode: UInt32 = 0o644) throws(SystemError) -> Int32 {
        try call("open", path) { open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode_t(mode)) }
    }

    /// Writes every byte to `fd` (a file or a blocking socket), however many `write`s it takes.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], subject: String? = nil) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let start = offset
            offset += try call("write", subject) {
                bytes.withUnsafeBytes { write(fd, $0.baseAddress.map { $0 + start }, $0.count - start) }
            }
        }
    }

    /// Up to `buffer.count` bytes from `fd`; 0 at the end of the file or stream.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer,
                            subject: String? = nil) throws(SystemError) -> Int {
        try call("read", subject) { systemRead(fd, buffer.baseAddress, buffer.count) }
    }

    /// Creates the folder `path` with `mode`; an existing folder is fine, anything else there is `ENOTDIR`.
    public static func makeDirectory(_ path: String, mode: UInt32) throws(SystemError) {
        if let existing = try? status(path) {
            if existing.kind == .directory { return }
            throw SystemError(errno: ENOTDIR, function: "mkdir", subject: path)
        }
        do {
            try call("mkdir", path) { mkdir(path, mode_t(mode)) }
        } catch where error.errno == EEXIST && isDirectory(path) {
            // Created meanwhile by someone else.
        }
    }

    /// `mkdir -p`: creates `path` and its missing parents with `mode`; existing folders are fine,
    /// a file where a folder should be is `ENOTDIR` naming it.
    public static func makeDirectories(_ path: String, mode: UInt32) throws(SystemError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            try makeDirectory(prefix, mode: mode)
        }
    }

    /// What `stat` (or `lstat`) says about a path, without the C struct.
    public struct FileStatus: Sendable, Hashable {
        public enum Kind: Sendable, Hashable {
            case regular, directory, socket, symbolicLink, other
        }

        public var kind: Kind
        /// The permission bits (`mode & 0o7777`).
        public var permissions: UInt32
        public var size: Int64
        /// The owner's user id.
        public var owner: UInt32 = 0
        /// Device, inode, size and modification and change times: equal stamps, same file content
        /// as far as the kernel tells (a replaced file has a new inode or times).
        public var stamp: [Int64] = []

        init(_ info: stat) {
            kind = switch info.st_mode & S_IFMT {
            case S_IFREG: .regular
            case S_IFDIR: .directory
            case S_IFSOCK: .socket
            case S_IFLNK: .symbolicLink
            default: .other
            }
            permissions = UInt32(info.st_mode) & 0o7777
            size = Int64(info.st_size)
            owner = UInt32(info.st_uid)
            stamp = [Int64(info.st_dev), Int64(info.st_ino), Int64(info.st_size), Int64(info.st_mtim.tv_sec),
                     Int64(info.st_mtim.tv_nsec), Int64(info.st_ctim.tv_sec), Int64(info.st_ctim.tv_nsec)]
        }
    }

    /// `stat` (follows symbolic links, as `open` does), or `lstat` when `followingLinks` is false.
    public static func status(_ path: String, followingLinks: Bool = true) throws(SystemError) -> FileStatus {
        var info = stat()
        if followingLinks {
            try call("stat", path) { stat(path, &info) }
        } else {
            try call("lstat", path) { lstat(path, &info) }
        }
        return FileStatus(info)
    }

    /// `fstat`: what the open descriptor `fd` is, whatever its path points at by now.
    public static func status(of fd: Int32, subject: String? = nil) throws(SystemError) -> FileStatus {
        var info = stat()
        try call("fstat", subject) { fstat(fd, &info) }
        return FileStatus(info)
    }

    /// Opens `path` for reading without following a symbolic link in its last component
    /// (`O_NOFOLLOW`: a link fails with `ELOOP`) and without blocking on a FIFO; the caller
    /// checks the descriptor with ``status(of:subject:)`` and closes it.
    public static func openNoFollow(_ path: String) throws(SystemError) -> Int32 {
        try call("open", path) { open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
    }

    /// The effective user id the process runs as.
    public static var effectiveUserID: UInt32 { UInt32(geteuid()) }

    /// Whether anything is at `path` (a dangling symbolic link counts only when not following links).
    public static func exists(_ path: String, followingLinks: Bool = true) -> Bool {
        (try? status(path, followingLinks: followingLinks)) != nil
    }

    public static func isDirectory(_ path: String) -> Bool {
        (try? status(path))?.kind == .directory
    }

    /// Names in a folder, sorted, without `.` and `..`.
    public static func listDirectory(_ path: String) throws(SystemError) -> [String] {
        guard let directory = opendir(path) else { throw failure(errno, "opendir", path) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: entry.pointee.d_name)) {
                    String(cString: $0)
                }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Whether this process may create and write files in the folder (`access(W_OK | X_OK)`).
    public static func checkWritableDirectory(_ path: String) throws(SystemError) {
        try call("access", path) { access(path, W_OK | X_OK) }
    }

    /// Renames `from` to `to`, replacing `to` (the errors name `from`).
    public static func rename(_ from: String, to: String) throws(SystemError) {
        try call("rename", from) { systemRename(from, to) }
    }

    /// Removes `path`; `ENOENT` is an error unless `missingIsFine`.
    public static func unlink(_ path: String, missingIsFine: Bool = false) throws(SystemError) {
        do {
            try call("unlink", path) { systemUnlink(path) }
        } catch where missingIsFine && error.errno == ENOENT {}
    }

    public static func chmod(_ path: String, mode: UInt32) throws(SystemError) {
        try call("chmod", path) { systemChmod(path, mode_t(mode)) }
    }

    /// Blocks the calling thread for `duration` (nothing when it is not positive), resuming after
    /// signals until the whole duration has passed.
    public static func sleep(for duration: Duration) {
        guard duration > .zero else { return }
        let (seconds, attoseconds) = duration.components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) == -1 && errno == EINTR {
            request = remaining
        }
    }

    // MARK: Clock

    /// What the kernel says about the system clock's synchronisation (`adjtimex` reading only).
    public struct KernelClock: Sendable, Hashable {
        /// `STA_UNSYNC` is clear and the state is not `TIME_ERROR`: an NTP client disciplines the clock.
        public var synchronised: Bool
        /// The kernel's maximum error bound (`maxerror`).
        public var maximumError: Duration
        /// The kernel's estimated error (`esterror`).
        public var estimatedError: Duration

        public init(synchronised: Bool, maximumError: Duration, estimatedError: Duration) {
            self.synchronised = synchronised
            self.maximumError = maximumError
            self.estimatedError = estimatedError
        }
    }

    /// `adjtimex` with no changes (no privilege needed); `ENOSYS` off Linux.
    public static func kernelClock() throws(SystemError) -> KernelClock {
        var raw = fieldagent_kernel_clock()
        try call("adjtimex") { fieldagent_kernel_clock_read(&raw) }
        return KernelClock(synchronised: raw.status & fieldagent_sta_unsync == 0 && raw.state != fieldagent_time_error,
                           maximumError: .microseconds(Int64(raw.maximum_error_us)),
                           estimatedError: .microseconds(Int64(raw.estimated_error_us)))
    }

    /// Raises this process's soft limit on open descriptors to its hard limit (a server's
    /// connection cap is then what bounds it, not a default of 1024); returns the limit now in
    /// force, nil when it cannot be read.
    @discardableResult
    public static func raiseDescriptorLimit() -> UInt64? {
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resource, &raised) == 0 { limit = raised }
        }
        return UInt64(limit.rlim_cur)
    }

    /// Releases `fd`. Never retried: on Linux the descriptor is gone even when close reports EINTR.
    public static func close(_ fd: Int32) {
        _ = systemClose(fd)
    }

    // MARK: Sockets

    #if os(Linux)
    /// `send` without SIGPIPE: a peer that went away is an error to report, not a signal.
    public static let sendFlags = Int32(MSG_NOSIGNAL)
    public static let streamType = Int32(SOCK_STREAM.rawValue)
    #else
    public static let sendFlags: Int32 = 0
    public static let streamType = SOCK_STREAM
    #endif

    /// `poll` events: ready to read, ready to write.
    public static let readable = Int16(POLLIN)
    public static let writable = Int16(POLLOUT)

    /// Adds `O_NONBLOCK` and `FD_CLOEXEC`: all waiting is then done with ``wait(_:for:until:)``
    /// or ``poll(_:events:milliseconds:)``.
    public static func makeNonBlocking(_ fd: Int32) throws(SystemError) {
        try setNonBlockingAndCloseOnExec(fd)
        #if canImport(Darwin)
        var one: Int32 = 1
        try call("setsockopt") { setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size)) }
        #endif
    }

    private static func setNonBlockingAndCloseOnExec(_ fd: Int32) throws(SystemError) {
        let flags = try call("fcntl") { fcntl(fd, F_GETFL) }
        try call("fcntl") { fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
        try call("fcntl") { fcntl(fd, F_SETFD, FD_CLOEXEC) }
    }

    /// A non-blocking, close-on-exec pipe, for one thread to end another's ``poll(_:milliseconds:)``.
    public static func pipe() throws(SystemError) -> (read: Int32, write: Int32) {
        var ends: [Int32] = [-1, -1]
        try call("pipe") { ends.withUnsafeMutableBufferPointer { systemPipe($0.baseAddress) } }
        do {
            try setNonBlockingAndCloseOnExec(ends[0])
            try setNonBlockingAndCloseOnExec(ends[1])
        } catch {
            close(ends[0])
            close(ends[1])
            throw error
        }
        return (ends[0], ends[1])
    }

    /// A `sockaddr_un` for `path`; `ENAMETOOLONG` when it does not fit.
    private static func unixAddress(_ path: String) throws(SystemError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SystemError(errno: ENAMETOOLONG, function: "connect", subject: path)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    /// Sends `bytes` as one datagram to the Unix datagram socket at `path` (a leading `@` names
    /// Linux's abstract namespace, as `$NOTIFY_SOCKET` may) from a fresh unbound socket, closed
    /// after: the service manager's notification protocol, without libsystemd.
    public static func sendDatagram(_ bytes: [UInt8], toUnixSocket path: String) throws(SystemError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var name = Array(path.utf8)
        let abstract = name.first == UInt8(ascii: "@")
        if abstract { name[0] = 0 }
        guard !name.isEmpty, name.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SystemError(errno: ENAMETOOLONG, function: "sendto", subject: path)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: name)
            raw[name.count] = 0
        }
        // An abstract name is exactly its bytes; a path may carry its terminating NUL.
        let length = socklen_t(MemoryLayout.size(ofValue: address.sun_family) + name.count + (abstract ? 0 : 1))
        #if os(Linux)
        let type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        #else
        let type = SOCK_DGRAM
        #endif
        let fd = try call("socket", path) { socket(AF_UNIX, type, 0) }
        defer { close(fd) }
        let sent = try call("sendto", path) {
            bytes.withUnsafeBytes { raw in
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, raw.baseAddress, raw.count, sendFlags, $0, length) }
                }
            }
        }
        guard sent == bytes.count else { throw SystemError(errno: EMSGSIZE, function: "sendto", subject: path) }
    }

    /// A stream socket connected to the Unix socket at `path`.
    ///
    /// Blocking by default. With `nonBlocking`, the result says whether the connection is already
    /// made; when it is not (`false`), wait for ``writable`` and read ``pendingError(_:)``. On
    /// failure the socket is closed.
    public static func connectUnix(_ path: String, nonBlocking: Bool = false) throws(SystemError) -> (fd: Int32, connected: Bool) {
        var address = try unixAddress(path)
        #if os(Linux)
        let type = streamType | Int32(SOCK_CLOEXEC.rawValue)
        #else
        let type = streamType
        #endif
        let fd = try call("socket", path) { socket(AF_UNIX, type, 0) }
        do throws(SystemError) {
            if nonBlocking { try makeNonBlocking(fd) }
            let length = socklen_t(MemoryLayout<sockaddr_un>.size)
            while true {
                let rc = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
                }
                if rc == 0 { return (fd, true) }
                switch errno {
                case EINTR where !nonBlocking: continue
                case EINPROGRESS, EAGAIN, EINTR: return (fd, false)
                case let code: throw failure(code, "connect", path)
                }
            }
        } catch {
            close(fd)
            throw error
        }
    }

    /// `SO_ERROR`: the outcome of a non-blocking connect (0 when it succeeded).
    public static func pendingError(_ fd: Int32) throws(SystemError) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        try call("getsockopt") { getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) }
        return value
    }

    /// Bytes sent from a non-blocking socket, or nil when its buffer is full (poll for
    /// ``writable``). Sent with ``sendFlags``: a peer that died gives `EPIPE`, not SIGPIPE.
    public static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, subject: String? = nil) throws(SystemError) -> Int? {
        while true {
            let n = systemSend(fd, bytes.baseAddress, bytes.count, sendFlags)
            if n >= 0 { return n }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            case let code: throw failure(code, "send", subject)
            }
        }
    }

    /// Bytes received (0: the peer closed), or nil when a non-blocking socket has nothing yet
    /// (poll for ``readable``).
    public static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer,
                               subject: String? = nil) throws(SystemError) -> Int? {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n >= 0 { return n }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return nil
            case let code: throw failure(code, "recv", subject)
            }
        }
    }

    /// Waits until `fd` is ready for `events` or `milliseconds` pass; false on timeout. An
    /// interrupted wait returns true, so the caller re-checks its deadline and tries again.
    public static func poll(_ fd: Int32, events: Int16, milliseconds: Int32) throws(SystemError) -> Bool {
        var entry = pollfd(fd: fd, events: events, revents: 0)
        let rc = systemPoll(&entry, 1, milliseconds)
        if rc > 0 { return true }
        if rc == 0 { return false }
        if errno == EINTR { return true }
        throw failure(errno, "poll", nil)
    }

    /// One `poll` over several descriptors (their `revents` filled in): the number ready, 0 on
    /// timeout; `milliseconds` -1 waits without limit. An interrupted wait is retried with the
    /// same timeout, so callers that keep a deadline re-check it after any return.
    @discardableResult
    public static func poll(_ entries: inout [pollfd], milliseconds: Int32) throws(SystemError) -> Int32 {
        let count = nfds_t(entries.count)
        // The buffer is taken inside `call`'s body: Swift 6.0's withUnsafeMutableBufferPointer
        // rethrows untyped errors, which a typed-throws function cannot pass on.
        return try call("poll") {
            entries.withUnsafeMutableBufferPointer { systemPoll($0.baseAddress, count, milliseconds) }
        }
    }

    /// Waits until `fd` is ready for `events` or `deadline` passes; false on timeout.
    public static func wait(_ fd: Int32, for events: Int16,
                            until deadline: ContinuousClock.Instant) throws(SystemError) -> Bool {
        while true {
            if try poll(fd, events: events, milliseconds: milliseconds(until: deadline)) { return true }
            if ContinuousClock.now >= deadline { return false }
        }
    }

    /// Milliseconds from `now` to `deadline`, rounded up so a wait never ends early, at least 0.
    public static func milliseconds(until deadline: ContinuousClock.Instant,
                                    from now: ContinuousClock.Instant = .now) -> Int32 {
        milliseconds(now.duration(to: deadline))
    }

    /// A `poll` timeout: `duration` in whole milliseconds, rounded up so a wait never ends early,
    /// at least 0 and at most `Int32.max`; -1 (no limit) for nil.
    public static func milliseconds(_ duration: Duration?) -> Int32 {
        guard let duration else { return -1 }
        if duration <= .zero { return 0 }
        let (seconds, attoseconds) = duration.components
        let whole = seconds.multipliedReportingOverflow(by: 1_000)
        if whole.overflow { return Int32.max }
        return Int32(clamping: whole.partialValue + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
    }

    /// libc `connect`, for callers whose own `connect` member hides it.
    public static func connect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
        systemConnect(fd, address, length)
    }

    /// libc `accept`, for callers whose own `accept` member hides it.
    public static func accept(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>,
                              _ length: UnsafeMutablePointer<socklen_t>) -> Int32 {
        systemAccept(fd, address, length)
    }

    /// `127.0.0.1` / `::1`: the numeric form of a socket address, `?` when it has none.
    public static func numericHost(_ address: UnsafePointer<sockaddr>, length: socklen_t) -> String {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        let result = getnameinfo(address, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST)
        guard result == 0 else { return "?" }
        return String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether `host` is an IPv4 or IPv6 literal (TLS sends no SNI for those, RFC 6066 §3).
    public static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}

// The C functions whose names POSIX's own members hide.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int { read(fd, buffer, count) }
private func systemRename(_ from: String, _ to: String) -> Int32 { rename(from, to) }
private func systemUnlink(_ path: String) -> Int32 { unlink(path) }
private func systemChmod(_ path: String, _ mode: mode_t) -> Int32 { chmod(path, mode) }
private func systemClose(_ fd: Int32) -> Int32 { close(fd) }
private func systemSend(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int, _ flags: Int32) -> Int { send(fd, bytes, count, flags) }
private func systemPoll(_ fds: UnsafeMutablePointer<pollfd>?, _ count: nfds_t, _ timeout: Int32) -> Int32 { poll(fds, count, timeout) }
private func systemPipe(_ ends: UnsafeMutablePointer<Int32>?) -> Int32 { pipe(ends) }
private func systemConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 { connect(fd, address, length) }
private func systemAccept(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>,
                          _ length: UnsafeMutablePointer<socklen_t>) -> Int32 { accept(fd, address, length) }
