import AgentRuntime
import Foundation
import Logging
import TestSupport
import Testing

/// The agent under a service manager: READY and STATUS through `$NOTIFY_SOCKET`, status.json in
/// `$RUNTIME_DIRECTORY` with the sensors.
@Suite struct AgentServiceTests {
    /// A bound Unix datagram socket in the role of systemd's notify socket.
    final class NotifySocket {
        let path: String
        let fd: Int32

        init(in folder: TemporaryDirectory) throws {
            path = folder.file("notify")
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard fd >= 0, bound == 0 else { throw POSIXError(.EADDRNOTAVAIL) }
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { close(fd) }

        /// Every datagram that arrived, until one starts with `prefix` (or 10 s pass).
        func receive(until prefix: String) -> [String] {
            var all: [String] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = recv(fd, &buffer, buffer.count, 0)
                guard n > 0 else { return all }
                let text = String(decoding: buffer[..<n], as: UTF8.self)
                all.append(text)
                if text.hasPrefix(prefix) { return all }
            }
        }
    }

    @Test func theAgentSaysReadyItsStatusAndLastStopping() throws {
        let folder = try TemporaryDirectory(prefix: "service")
        let notify = try NotifySocket(in: folder)
        let runtime = folder.file("run")
        let agent = Agent(board: try openBoard("sim-factory-line"),
                          options: .init(agentVersion: "test", config: testConfig(sendFrequency: .seconds(10)), count: 3,
                                         environment: ["NOTIFY_SOCKET": notify.path, "RUNTIME_DIRECTORY": runtime]),
                          hub: nil, logger: Logger(label: "test"))
        try agent.run()
        let datagrams = notify.receive(until: "STOPPING=1")
        #expect(datagrams.filter { $0.hasPrefix("READY=1") } == ["READY=1\nSTATUS=sampling sim-factory-line"])
        #expect(datagrams.contains { $0.hasPrefix("STATUS=link no hub configured, 0 sent") })
        #expect(datagrams.last?.hasPrefix("STOPPING=1\nSTATUS=") == true)
        // status.json went to the runtime directory, not a state directory (none is configured).
        let status = try #require(AgentStatus.read(from: runtime))
        #expect(status.deviceID == "factory-line-01")
    }

    @Test func theStatusShowsEverySensorWithItsLatestReadings() throws {
        let agent = Agent(board: try openBoard("sim-factory-line"),
                          options: .init(agentVersion: "test", config: testConfig(sendFrequency: .seconds(10)), count: 2, environment: [:]),
                          hub: nil, logger: Logger(label: "test"))
        try agent.run()
        let sensors = try #require(agent.status().sensors)
        #expect(sensors.map(\.name) == ["ambient", "duct", "motor"])
        #expect(sensors.map(\.chip) == ["BME280", "SHT31", "ADXL345"])
        #expect(sensors.allSatisfy { $0.status == "ok" })
        let temperature = try #require(sensors[0].readings["temperature"])
        #expect(temperature.unit == "°C")
        #expect((15...30).contains(temperature.value))  // the board's 22.5 °C baseline
        #expect(sensors[2].readings["vibrationRMS"] != nil)
    }

    @Test func theStatusDirectoryIsTheRuntimeDirectoryWhenThereIsOne() {
        #expect(AgentStatus.directory(runtime: "/x", state: "/var/lib/fieldagent", environment: ["RUNTIME_DIRECTORY": "/run/fieldagent"]) == "/x")
        #expect(AgentStatus.directory(runtime: nil, state: "/var/lib/fieldagent", environment: ["RUNTIME_DIRECTORY": "/run/fieldagent"])
            == "/run/fieldagent")
        #expect(AgentStatus.directory(runtime: nil, state: "/srv/agent", environment: [:]) == "/srv/agent")
        #expect(AgentStatus.directory(runtime: nil, state: nil, environment: [:]) == nil)
        #expect(AgentStatus.searchDirectories(runtime: nil, state: nil, environment: [:]) == ["/run/fieldagent", "/var/lib/fieldagent"])
    }
}
