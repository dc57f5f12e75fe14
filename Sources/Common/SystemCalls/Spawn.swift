#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension POSIX {
    /// What ``runBounded(_:_:environment:maximumOutput:timeout:)`` got from a program.
    public struct BoundedRun: Sendable, Equatable {
        public enum End: Sendable, Equatable {
            /// It exited with this status.
            case exited(Int32)
            /// A signal ended it (9: killed at a bound, or after it closed its output).
            case signalled(Int32)
        }
        /// Its standard output, at most the bound given.
        public var output: [UInt8]
        /// The start of its standard error (at most ``maximumErrorOutput`` bytes).
        public var errorOutput: [UInt8]
        /// It wrote more than the bound: reading stopped there and the program was killed.
        public var truncated: Bool
        /// It ran past the time bound and was killed.
        public var timedOut: Bool
        public var end: End

        /// Exited with status 0.
        public var succeeded: Bool { end == .exited(0) }
    }

    /// Standard error kept per run (the rest is read and dropped, so the program never blocks on it).
    public static let maximumErrorOutput = 4096

    /// Runs the program at `path` (no shell, no `PATH` search; standard input `/dev/null`) and
    /// reads its standard output up to `maximumOutput` bytes and for at most `timeout`. A program
    /// that writes more, runs longer, or still runs once it closed its output is killed
    /// (SIGKILL) and reaped before this returns, so nothing is left behind.
    ///
    /// `posix_spawn`, not `fork`: safe in a threaded process, and no Foundation `Process` in the
    /// device binary. Blocks the calling thread for up to `timeout`.
    ///
    /// - Throws: ``SystemError`` when the program cannot be started (`posix_spawn`: ENOENT, EACCES)
    ///   or a pipe cannot be made.
    public static func runBounded(_ path: String, _ arguments: [String], environment: [String] = [],
                                  maximumOutput: Int, timeout: Duration) throws(SystemError) -> BoundedRun {
        let deadline = ContinuousClock.now + timeout
        let out = try childPipe()
        let err: (read: Int32, write: Int32)
        do { err = try childPipe() } catch {
            close(out.read)
            close(out.write)
            throw error
        }
        let pid: pid_t
        do {
            defer {
                close(out.write)
                close(err.write)
            }
            pid = try spawn(path, arguments, environment: environment, stdout: out.write, stderr: err.write)
        } catch {
            close(out.read)
            close(err.read)
            throw error
        }
        defer {
            close(out.read)
            close(err.read)
        }

        var output: [UInt8] = []
        var errorOutput: [UInt8] = []
        var truncated = false
        var timedOut = false
        var open = (out: true, err: true)
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while open.out || open.err {
            let left = milliseconds(until: deadline)
            if left == 0 {
                timedOut = true
                break
            }
            var entries: [pollfd] = []
            if open.out { entries.append(pollfd(fd: out.read, events: readable, revents: 0)) }
            if open.err { entries.append(pollfd(fd: err.read, events: readable, revents: 0)) }
            // A poll failure (only ENOMEM here) ends the reading; the program is killed below.
            guard (try? poll(&entries, milliseconds: left)) != nil else { break }
            for entry in entries where entry.revents != 0 {
                let isOutput = entry.fd == out.read
                let room = isOutput ? min(buffer.count, maximumOutput - output.count + 1) : buffer.count
                var failure: SystemError?
                let n = buffer.withUnsafeMutableBytes { bytes -> Int in
                    do { return try read(entry.fd, into: UnsafeMutableRawBufferPointer(rebasing: bytes[..<max(room, 1)])) } catch {
                        failure = error as? SystemError
                        return -1
                    }
                }
                if failure?.errno == EAGAIN { continue }
                // The end of that stream (a read error is taken as one).
                if n <= 0 {
                    if isOutput { open.out = false } else { open.err = false }
                    continue
                }
                if isOutput {
                    output += buffer[..<n]
                    if output.count > maximumOutput {
                        output.removeLast(output.count - maximumOutput)
                        truncated = true
                    }
                } else {
                    errorOutput += buffer[..<min(n, max(0, maximumErrorOutput - errorOutput.count))]
                }
            }
            if truncated { break }
        }
        // Harmless to a program already exiting: its exit status is kept (a group exit in
        // progress ignores further signals); one still running after it closed its output, ran
        // too long or wrote too much is ended here, so the wait below cannot hang.
        _ = kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let end: BoundedRun.End = status & 0x7F == 0 ? .exited((status >> 8) & 0xFF) : .signalled(status & 0x7F)
        return BoundedRun(output: output, errorOutput: errorOutput, truncated: truncated, timedOut: timedOut, end: end)
    }

    /// A pipe whose read end (the parent's) is non-blocking and both ends close on exec; the
    /// child gets the write end by `dup2`, which clears close-on-exec on the copy only.
    private static func childPipe() throws(SystemError) -> (read: Int32, write: Int32) {
        var ends: [Int32] = [-1, -1]
        try call("pipe") { ends.withUnsafeMutableBufferPointer { systemPipe2($0.baseAddress) } }
        do {
            try call("fcntl") { fcntl(ends[0], F_SETFD, FD_CLOEXEC) }
            try call("fcntl") { fcntl(ends[1], F_SETFD, FD_CLOEXEC) }
            let flags = try call("fcntl") { fcntl(ends[0], F_GETFL) }
            try call("fcntl") { fcntl(ends[0], F_SETFL, flags | O_NONBLOCK) }
        } catch {
            close(ends[0])
            close(ends[1])
            throw error
        }
        return (ends[0], ends[1])
    }

    private static func spawn(_ path: String, _ arguments: [String], environment: [String],
                              stdout: Int32, stderr: Int32) throws(SystemError) -> pid_t {
        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t? = nil
        var attributes: posix_spawnattr_t? = nil
        #else
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The child starts with no blocked signals and SIGPIPE at its default, whatever this
        // process set for itself.
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &pipeSignal)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var pid = pid_t()
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw SystemError(errno: rc, function: "posix_spawn", subject: path) }
        return pid
    }
}

private func systemPipe2(_ ends: UnsafeMutablePointer<Int32>?) -> Int32 { pipe(ends) }
