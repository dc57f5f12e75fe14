import Foundation
import SystemCalls
import TestSupport
import Testing

@Suite struct SystemErrorTests {
    @Test func theMessageNamesTheCallItsSubjectAndTheLibraryText() {
        #expect(SystemError(errno: ENOENT, function: "open", subject: "/dev/i2c-1").description
            == "open(/dev/i2c-1) failed: No such file or directory (errno 2)")
        #expect(SystemError(errno: EACCES, function: "gpiod_line_set_value").description
            == "gpiod_line_set_value failed: Permission denied (errno 13)")
        #expect(SystemError(errno: ENOTTY, function: "ioctl", subject: "I2C_FUNCS").operation == "ioctl(I2C_FUNCS)")
    }

    @Test func callRetriesAnInterruptedCallAndNamesAFailedOne() throws {
        var attempts = 0
        let result = try POSIX.call("read") { () -> Int32 in
            attempts += 1
            if attempts < 3 { errno = EINTR; return -1 }
            return 7
        }
        #expect(result == 7 && attempts == 3)

        #expect(throws: SystemError(errno: EACCES, function: "open", subject: "/etc/shadow")) {
            try POSIX.call("open", "/etc/shadow") { () -> Int32 in errno = EACCES; return -1 }
        }
        // A library that answers NULL without an errno found nothing.
        #expect(throws: SystemError(errno: ENOENT, function: "gpiod_chip_find_line", subject: "GPIO99")) {
            try POSIX.call("gpiod_chip_find_line", "GPIO99") { () -> OpaquePointer? in nil }
        }
    }
}

@Suite struct FileCallTests {
    @Test func writeFileSetsTheModeWhateverTheUmaskAndReadFileReadsItBack() throws {
        let folder = try TemporaryDirectory(prefix: "systemcalls")
        let path = folder.file("shared.txt")
        // 0666 survives only through fchmod: open(2) alone would apply the umask (022 → 0644).
        try POSIX.writeFile(path, Array("hello\n".utf8), mode: 0o666)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o666)
        #expect(try POSIX.readFile(path) == Array("hello\n".utf8))
        #expect(try POSIX.readTextFile(path) == "hello")
        let status = try POSIX.status(path)
        #expect(status.kind == .regular && status.permissions == 0o666 && status.size == 6)

        #expect(throws: SystemError(errno: ENOENT, function: "open", subject: folder.file("missing"))) {
            try POSIX.readFile(folder.file("missing"))
        }
    }

    @Test func anAtomicWriteReplacesTheFileAndLeavesNoTemporary() throws {
        let folder = try TemporaryDirectory(prefix: "systemcalls")
        let path = folder.file("ca-bundle.pem")
        try POSIX.writeFileAtomically(path, Array("old".utf8), mode: 0o600)
        try POSIX.writeFileAtomically(path, Array("new".utf8), mode: 0o644)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "new")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["ca-bundle.pem"])
        #expect(try POSIX.status(path).permissions == 0o644)
    }

    /// The durable form (file and folder fsynced around the rename) writes the same result, and
    /// a folder that cannot be synced is an error, not a silent success.
    @Test func aDurableWriteReplacesTheFileAndSyncsItsFolder() throws {
        let folder = try TemporaryDirectory(prefix: "systemcalls")
        let path = folder.file("twin-settings.json")
        try POSIX.writeFileDurably(path, Array("old".utf8), mode: 0o600)
        try POSIX.writeFileDurably(path, Array("new".utf8), mode: 0o644)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "new")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["twin-settings.json"])
        #expect(try POSIX.status(path).permissions == 0o644)
        try POSIX.syncDirectory(containing: path)
        #expect(throws: SystemError(errno: ENOENT, function: "open", subject: folder.file("gone"))) {
            try POSIX.syncDirectory(containing: folder.file("gone/file"))
        }
        #expect(throws: SystemError(errno: ENOTDIR, function: "open", subject: path)) {
            try POSIX.syncDirectory(containing: path + "/file")
        }
    }

    @Test func makeDirectoriesCreatesParentsAndNamesAFileInTheWay() throws {
        let folder = try TemporaryDirectory(prefix: "systemcalls")
        try POSIX.makeDirectories(folder.file("a/b/c"), mode: 0o700)
        try POSIX.makeDirectories(folder.file("a/b/c"), mode: 0o700)   // existing: fine
        #expect(try FileManager.default.attributesOfItem(atPath: folder.file("a/b/c"))[.posixPermissions] as? Int == 0o700)
        #expect(POSIX.isDirectory(folder.file("a/b")))

        #expect(FileManager.default.createFile(atPath: folder.file("file"), contents: Data()))
        #expect(throws: SystemError(errno: ENOTDIR, function: "mkdir", subject: folder.file("file"))) {
            try POSIX.makeDirectories(folder.file("file/state"), mode: 0o700)
        }
        #expect(throws: SystemError(errno: ENOTDIR, function: "mkdir", subject: folder.file("file"))) {
            try POSIX.makeDirectory(folder.file("file"), mode: 0o700)
        }
    }

    @Test func listDirectoryIsSortedWithoutDotEntries() throws {
        let folder = try TemporaryDirectory(prefix: "systemcalls")
        for name in ["b.pem", "a.crt", "c"] { #expect(FileManager.default.createFile(atPath: folder.file(name), contents: Data())) }
        #expect(try POSIX.listDirectory(folder.path) == ["a.crt", "b.pem", "c"])
        #expect(throws: SystemError(errno: ENOENT, function: "opendir", subject: folder.file("none"))) {
            try POSIX.listDirectory(folder.file("none"))
        }
    }

    @Test func renameUnlinkChmodAndADanglingLink() throws {
        let folder = try TemporaryDirectory(prefix: "systemcalls")
        let path = folder.file("outbox.db")
        try POSIX.writeFile(path, [1, 2, 3], mode: 0o600)
        try POSIX.rename(path, to: path + ".corrupt")
        #expect(!POSIX.exists(path) && POSIX.exists(path + ".corrupt"))
        try POSIX.chmod(path + ".corrupt", mode: 0o640)
        #expect(try POSIX.status(path + ".corrupt").permissions == 0o640)
        try POSIX.unlink(path + ".corrupt")
        try POSIX.unlink(path + ".corrupt", missingIsFine: true)
        #expect(throws: SystemError(errno: ENOENT, function: "unlink", subject: path)) { try POSIX.unlink(path) }

        try FileManager.default.createSymbolicLink(atPath: folder.file("link"), withDestinationPath: folder.file("gone"))
        #expect(!POSIX.exists(folder.file("link")))
        #expect(POSIX.exists(folder.file("link"), followingLinks: false))
        #expect(try POSIX.status(folder.file("link"), followingLinks: false).kind == .symbolicLink)
    }
}

@Suite struct SocketCallTests {
    @Test func connectingToNothingSaysWhy() throws {
        let folder = try TemporaryDirectory(prefix: "systemcalls")
        #expect(throws: SystemError(errno: ENOENT, function: "connect", subject: folder.file("none.sock"))) {
            try POSIX.connectUnix(folder.file("none.sock"))
        }
        let long = "/tmp/" + String(repeating: "x", count: 200)
        #expect(throws: SystemError(errno: ENAMETOOLONG, function: "connect", subject: long)) {
            try POSIX.connectUnix(long, nonBlocking: true)
        }
    }

    @Test func nonBlockingSendAndReceiveReturnNilInsteadOfWaiting() throws {
        var pair: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, POSIX.streamType, 0, &pair) == 0)
        let (near, far) = (pair[0], pair[1])
        defer { POSIX.close(near) }
        try POSIX.makeNonBlocking(near)
        try POSIX.makeNonBlocking(far)
        var buffer = [UInt8](repeating: 0, count: 64)

        #expect(try buffer.withUnsafeMutableBytes { try POSIX.receive(far, into: $0) } == nil)
        #expect(try POSIX.poll(far, events: POSIX.readable, milliseconds: 0) == false)

        let sent = try [UInt8]("ping".utf8).withUnsafeBytes { try POSIX.send(near, $0) }
        #expect(sent == 4)
        #expect(try POSIX.wait(far, for: POSIX.readable, until: .now + .seconds(5)))
        #expect(try buffer.withUnsafeMutableBytes { try POSIX.receive(far, into: $0) } == 4)
        #expect(Array(buffer.prefix(4)) == Array("ping".utf8))

        // Fill the socket buffer: send gives nil once it is full (bounded: the buffer is far below 64 MB).
        let block = [UInt8](repeating: 0x55, count: 65_536)
        var full = false
        for _ in 0..<1_024 where !full {
            full = try block.withUnsafeBytes { try POSIX.send(near, $0) } == nil
        }
        #expect(full)
        #expect(try POSIX.poll(near, events: POSIX.writable, milliseconds: 0) == false)

        // A peer that went away is EPIPE to report, not a SIGPIPE that would end the process.
        POSIX.close(far)
        #expect(throws: SystemError(errno: EPIPE, function: "send")) {
            try block.withUnsafeBytes { try POSIX.send(near, $0) }
        }
    }

    @Test func millisecondsRoundUpAndStopAtZero() {
        let now = ContinuousClock.now
        #expect(POSIX.milliseconds(until: now + .microseconds(1_200), from: now) == 2)
        #expect(POSIX.milliseconds(until: now + .seconds(3), from: now) == 3_000)
        #expect(POSIX.milliseconds(until: now - .seconds(1), from: now) == 0)
    }

    @Test func pollTimeoutsRoundUpAndNilMeansNoLimit() {
        #expect(POSIX.milliseconds(nil) == -1)
        #expect(POSIX.milliseconds(.zero) == 0 && POSIX.milliseconds(.seconds(-2)) == 0)
        #expect(POSIX.milliseconds(.nanoseconds(1)) == 1 && POSIX.milliseconds(.microseconds(2_500)) == 3)
        #expect(POSIX.milliseconds(.seconds(90)) == 90_000)
        // Far beyond 24.8 days (Int32.max ms) and beyond Int64 milliseconds: the longest wait, not a trap.
        #expect(POSIX.milliseconds(.seconds(30 * 86_400)) == Int32.max)
        #expect(POSIX.milliseconds(.seconds(Int64.max)) == Int32.max)
    }

    @Test func aPipeEndsAPollOverSeveralDescriptors() throws {
        let (readEnd, writeEnd) = try POSIX.pipe()
        defer { POSIX.close(readEnd); POSIX.close(writeEnd) }
        var pair: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, POSIX.streamType, 0, &pair) == 0)
        defer { POSIX.close(pair[0]); POSIX.close(pair[1]) }
        // Neither end is inherited by a program this process starts.
        #expect(fcntl(readEnd, F_GETFD) & FD_CLOEXEC != 0 && fcntl(writeEnd, F_GETFD) & FD_CLOEXEC != 0)

        var entries = [pollfd(fd: pair[0], events: POSIX.readable, revents: 0),
                       pollfd(fd: readEnd, events: POSIX.readable, revents: 0)]
        #expect(try POSIX.poll(&entries, milliseconds: 0) == 0)
        try POSIX.writeAll(writeEnd, [1])
        #expect(try POSIX.poll(&entries, milliseconds: POSIX.milliseconds(.seconds(5))) == 1)
        #expect(entries[0].revents == 0 && entries[1].revents & POSIX.readable != 0)

        // The read end never blocks: once drained it says EAGAIN.
        var buffer = [UInt8](repeating: 0, count: 8)
        #expect(try buffer.withUnsafeMutableBytes { try POSIX.read(readEnd, into: $0) } == 1)
        #expect(throws: SystemError(errno: EAGAIN, function: "read")) {
            try buffer.withUnsafeMutableBytes { try POSIX.read(readEnd, into: $0) }
        }
    }

    @Test func ipLiteralsAreToldFromHostNames() {
        #expect(POSIX.isIPAddress("127.0.0.1") && POSIX.isIPAddress("::1") && POSIX.isIPAddress("fe80::1"))
        #expect(!POSIX.isIPAddress("localhost") && !POSIX.isIPAddress("hub.azure-devices.net") && !POSIX.isIPAddress("1.2.3"))
    }
}

/// `POSIX.runBounded`: a program's output within a byte and a time bound; one that floods,
/// hangs or closes its output and stays is killed and reaped, never waited for without end.
@Suite struct BoundedRunTests {
    @Test func theOutputTheErrorOutputAndTheExitStatus() throws {
        let run = try POSIX.runBounded("/bin/sh", ["-c", "printf 'hello\\n'; printf oops >&2; read line; echo \"[$line]\"; exit 3"],
                                       maximumOutput: 1024, timeout: .seconds(30))
        // Standard input is /dev/null: read gets nothing at once.
        #expect(String(decoding: run.output, as: UTF8.self) == "hello\n[]\n")
        #expect(String(decoding: run.errorOutput, as: UTF8.self) == "oops")
        #expect(run.end == .exited(3))
        #expect(!run.truncated && !run.timedOut && !run.succeeded)
        #expect(try POSIX.runBounded("/bin/true", [], maximumOutput: 16, timeout: .seconds(30)).succeeded)
    }

    @Test func aFloodIsCutAtTheByteBound() throws {
        let started = ContinuousClock.now
        let run = try POSIX.runBounded("/usr/bin/yes", ["flood"], maximumOutput: 100_000, timeout: .seconds(30))
        #expect(run.truncated && !run.timedOut)
        #expect(run.output.count == 100_000)
        #expect(run.output.starts(with: Array("flood\nflood\n".utf8)))
        #expect(run.end == .signalled(SIGKILL))
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func aHangIsCutAtTheTimeBound() throws {
        let started = ContinuousClock.now
        let run = try POSIX.runBounded("/bin/sh", ["-c", "echo partial; exec sleep 60"], maximumOutput: 1024, timeout: .milliseconds(300))
        let took = ContinuousClock.now - started
        #expect(run.timedOut && !run.truncated)
        #expect(String(decoding: run.output, as: UTF8.self) == "partial\n")
        #expect(run.end == .signalled(SIGKILL))
        #expect(took >= .milliseconds(300) && took < .seconds(10), "\(took)")
        // Closing its output does not let a program keep the caller waiting.
        let closed = try POSIX.runBounded("/bin/sh", ["-c", "exec >&- 2>&-; exec sleep 60"], maximumOutput: 1024, timeout: .seconds(30))
        #expect(closed.end == .signalled(SIGKILL) && !closed.timedOut)
        #expect(ContinuousClock.now - started < .seconds(20))
    }

    @Test func aMissingProgramIsAnError() {
        #expect(throws: SystemError(errno: ENOENT, function: "posix_spawn", subject: "/nonexistent/journalctl")) {
            try POSIX.runBounded("/nonexistent/journalctl", [], maximumOutput: 16, timeout: .seconds(1))
        }
    }
}
