import Foundation
import Logging
import ServiceNotify
import SystemCalls
import TestSupport
import Testing

@Suite struct ServiceManagerEnvironmentTests {
    @Test func theWatchdogIsOursOnlyWithASocketAndOurPid() {
        let both = ServiceManagerEnvironment(environment: ["NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "60000000",
                                                           "WATCHDOG_PID": "42"], pid: 42)
        #expect(both == ServiceManagerEnvironment(socket: "/run/systemd/notify", watchdogTimeout: .seconds(60)))
        // Another process's watchdog (a child that inherited the environment) is not ours.
        let other = ServiceManagerEnvironment(environment: ["NOTIFY_SOCKET": "@notify", "WATCHDOG_USEC": "60000000",
                                                            "WATCHDOG_PID": "41"], pid: 42)
        #expect(other == ServiceManagerEnvironment(socket: "@notify", watchdogTimeout: nil))
        #expect(ServiceManagerEnvironment(environment: ["NOTIFY_SOCKET": "/s", "WATCHDOG_USEC": "soon"], pid: 1).watchdogTimeout == nil)
        #expect(ServiceManagerEnvironment(environment: ["WATCHDOG_USEC": "1000"], pid: 1) == ServiceManagerEnvironment(socket: nil, watchdogTimeout: nil))
        #expect(ServiceManagerEnvironment(environment: ["NOTIFY_SOCKET": ""], pid: 1).socket == nil)
    }
}

@Suite struct ServiceNotificationTests {
    @Test func theDatagramsAreSdNotifysLines() {
        #expect(String(decoding: ServiceNotification.ready(status: "sampling").datagram, as: UTF8.self) == "READY=1\nSTATUS=sampling")
        #expect(String(decoding: ServiceNotification.watchdog.datagram, as: UTF8.self) == "WATCHDOG=1")
        #expect(String(decoding: ServiceNotification.stopping(status: "bye").datagram, as: UTF8.self) == "STOPPING=1\nSTATUS=bye")
        // A status is one line: a newline in it would start a new assignment.
        #expect(String(decoding: ServiceNotification.status("a\nWATCHDOG=1").datagram, as: UTF8.self) == "STATUS=a WATCHDOG=1")
        #expect(ServiceNotification.status(String(repeating: "é", count: 300)).datagram.count <= 207)
    }
}

@Suite struct WatchdogPolicyTests {
    let policy = WatchdogPolicy(timeout: .seconds(60), grace: .seconds(30))
    let start = ContinuousClock.now

    @Test func itLooksEveryHalfTimeout() {
        #expect(policy.interval == .seconds(30))
    }

    @Test func aLoopPastItsPromiseAndTheGraceWithholdsThePing() {
        // The sampler promised to be back 10 s after start (its next sample); the link waits for work.
        let promises: [String: ContinuousClock.Instant?] = ["sampler": start + .seconds(10), "hub link": nil]
        #expect(policy.verdict(now: start + .seconds(5), promises: promises) == .ping)
        #expect(policy.verdict(now: start + .seconds(40), promises: promises) == .ping)  // within the grace
        #expect(policy.verdict(now: start + .seconds(41), promises: promises) == .withhold(hung: ["sampler"]))
        let both: [String: ContinuousClock.Instant?] = ["sampler": start, "hub link": start]
        #expect(policy.verdict(now: start + .seconds(31), promises: both) == .withhold(hung: ["hub link", "sampler"]))
        #expect(policy.verdict(now: start, promises: [:]) == .ping)
    }
}

/// The one test with I/O: a real Unix datagram socket in the role of systemd's notify socket.
@Suite struct ServiceNotifierSocketTests {
    @Test func readyStatusAndWatchdogArriveAsDatagrams() throws {
        let folder = try TemporaryDirectory(prefix: "notify")
        let path = folder.file("notify.sock")
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8) + [0])
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        func receive() -> String {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buffer, buffer.count, 0)
            return n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : "(nothing: errno \(errno))"
        }

        // A watchdog of 20 ms: the first ping goes at once, then every 10 ms while the loop keeps its promise.
        let notifier = ServiceNotifier(environment: ServiceManagerEnvironment(socket: path, watchdogTimeout: .milliseconds(20)),
                                       grace: .seconds(3600), logger: Logger(label: "test"))
        notifier.watch("sampler") { ContinuousClock.now + .seconds(1) }
        notifier.send(.ready(status: "sampling sim-factory-line"))
        #expect(receive() == "READY=1\nSTATUS=sampling sim-factory-line")
        notifier.send(.status("link connected, 3 sent"))
        #expect(receive() == "STATUS=link connected, 3 sent")
        notifier.startWatchdog()
        #expect(receive() == "WATCHDOG=1")
        #expect(receive() == "WATCHDOG=1")
        notifier.stop(status: "stopped")
        // Pings sent before the stop may still be queued; STOPPING is the last datagram.
        var last = receive()
        while last == "WATCHDOG=1" { last = receive() }
        #expect(last == "STOPPING=1\nSTATUS=stopped")
    }

    @Test func aMissingSocketIsAnErrorNamingIt() {
        #expect(throws: SystemError.self) {
            try POSIX.sendDatagram(Array("READY=1".utf8), toUnixSocket: "/nonexistent/notify.sock")
        }
    }
}
