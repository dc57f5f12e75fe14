import TestSupport
import AgentRuntime
import Boards
import Foundation
import HAL
import HTTPServer
import HubClient
import Logging
import SensorCore
import Synchronization
import Testing

/// A plain HTTP/1.1 exchange on 127.0.0.1 (the server closes after answering): status and body.
func httpRequest(port: UInt16, method: String = "GET", path: String, headers: [String: String] = [:],
                 body: String = "") -> (status: Int, body: String)? {
    var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    for (name, value) in headers { request += "\(name): \(value)\r\n" }
    if method == "POST" { request += "Content-Length: \(body.utf8.count)\r\n" }
    request += "\r\n" + body
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var tv = timeval(tv_sec: 30, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { return nil }
    let bytes = Array(request.utf8)
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n <= 0 { break }
        received += buffer[..<n]
    }
    let text = String(decoding: received, as: UTF8.self)
    guard let statusText = text.split(separator: " ", maxSplits: 2).dropFirst().first, let status = Int(statusText),
          let split = text.range(of: "\r\n\r\n") else { return nil }
    return (status, String(text[split.upperBound...]))
}


/// A Debian program the test needs (scripts/lib/packages.sh installs it).
func program(_ name: String) throws -> String {
    for folder in ["/usr/bin", "/usr/local/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(folder)/\(name)") {
        return "\(folder)/\(name)"
    }
    throw ProgramMissing(name: name)
}

struct ProgramMissing: Error, CustomStringConvertible {
    var name: String
    var description: String { "\(name) is not installed (scripts/lib/packages.sh, observe_packages)" }
}

func freePort() throws -> UInt16 {
    let probe = try HTTPServer(configuration: .init(address: ListenAddress(host: "127.0.0.1", port: 0)), logger: Logger(label: "port")) { _ in .error(500) }
    return probe.port
}

/// An agent on a simulated board at 60× (a 30 s send period every half second), running on its
/// own thread; `messages` counts what it sent and wakes waiters.
final class RunningAgent: @unchecked Sendable {
    let agent: Agent
    final class Sent: Sendable {
        let count = Mutex(0)
        /// The last messages, newest last (bounded).
        let last = Mutex<[TelemetryMessage]>([])
        let wake = WakeUp()
    }
    let sent = Sent()

    init(board name: String, configure: (inout AgentConfig) -> Void, hub: HubClientSettingsProvider? = nil) throws {
        let board = try Board.open(try BoardFile.load(path: repositoryPath("boards/\(name).yaml")), timeScale: 60)
        var config = testConfig(sendFrequency: .seconds(30))
        config.core.flushTimeout = .seconds(2)
        configure(&config)
        let sent = self.sent
        agent = Agent(board: board, options: .init(agentVersion: "test", config: config), hub: hub?.hubSettings(), logger: Logger(label: "agent"),
                      output: { message in
                          sent.count.withLock { $0 += 1 }
                          sent.last.withLock { $0 = Array(($0 + [message]).suffix(16)) }
                          sent.wake.raise()
                      })
        let agent = self.agent
        Thread.detachNewThread { _ = try? agent.run() }
    }

    /// Waits (woken by each message) until `count` messages went out; false after 60 s.
    func waitForMessages(_ count: Int) -> Bool {
        waitForMessage { _ in sent.count.withLock({ $0 }) >= count }
    }

    /// Waits (woken by each message) until the latest satisfies `condition`; false after 60 s.
    @discardableResult
    func waitForMessage(_ condition: (TelemetryMessage?) -> Bool) -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while !condition(sent.last.withLock({ $0.last })) {
            guard ContinuousClock.now < deadline else { return false }
            _ = sent.wake.wait(timeout: .seconds(1))
        }
        return true
    }
}

protocol HubClientSettingsProvider {
    func hubSettings() -> HubClient.Settings
}

extension AgentLocalHubTests.Harness: HubClientSettingsProvider {}


/// Issue 18, metrics: `/metrics` on a live agent linked to LocalHub passes `promtool check
/// metrics`, carries each family the issue names, and a real Prometheus scrapes it.
@Suite(.serialized) struct MetricsEndpointTests {
    @Test func liveEndpointPassesPromtoolAndPrometheusScrapesIt() async throws {
        let promtool = try program("promtool")
        let prometheus = try program("prometheus")
        let harness = try await AgentLocalHubTests.Harness()
        let running = try RunningAgent(board: "sim-factory-line", configure: {
            $0.core.stateDirectory = harness.directory + "/agent"
            $0.observe.metricsListen = ListenAddress(host: "127.0.0.1", port: 0)
        }, hub: harness)
        defer {
            running.agent.stop()
        }
        #expect(running.waitForMessages(3))
        let port = try #require(running.agent.metricsPort)
        let scrape = try #require(httpRequest(port: port, path: "/metrics"))
        #expect(scrape.status == 200)
        let text = scrape.body
        for family in ["fieldagent_readings_total{sensor=\"ambient\",channel=\"temperature\"}", "fieldagent_sensor_healthy{sensor=\"motor\",chip=\"ADXL345\"} 1",
                       "fieldagent_link_state{state=\"connected\"} 1", "fieldagent_link_connects_total 1", "fieldagent_publish_latency_seconds_bucket",
                       "fieldagent_outbox_depth", "fieldagent_outbox_backlog_age_seconds", "fieldagent_outbox_dropped_total{kind=\"aggregate\"} 0",
                       "fieldagent_predictor_verdicts_total{source=\"fallback\"}", "fieldagent_predictor_answering 0",
                       "fieldagent_certificate_remaining_seconds", "process_resident_memory_bytes", "process_open_fds", "process_threads"] {
            #expect(text.contains(family), "no \(family) in /metrics")
        }
        let check = try runProgram(promtool, ["check", "metrics"], input: text)
        #expect(check.status == 0, "promtool check metrics: \(check.output)")
        #expect(httpRequest(port: port, path: "/")?.status == 404)

        // A real Prometheus scrapes it every second; its API then has the agent's series.
        let folder = try TemporaryDirectory(prefix: "fieldagent-prometheus")
        let configuration = """
            global: { scrape_interval: 1s, scrape_timeout: 1s }
            scrape_configs:
              - job_name: fieldagent
                static_configs: [ { targets: ["127.0.0.1:\(port)"] } ]
            """
        try configuration.write(toFile: folder.file("prometheus.yml"), atomically: true, encoding: .utf8)
        let webPort = try freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: prometheus)
        server.arguments = ["--config.file=\(folder.file("prometheus.yml"))", "--storage.tsdb.path=\(folder.file("data"))",
                            "--web.listen-address=127.0.0.1:\(webPort)"]
        server.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        server.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: folder.file("prometheus.log")).creatingFile())
        try server.run()
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        // Woken by each scrape the agent serves: after the third, the first ones are stored.
        #expect(running.agent.waitForScrapes(3, timeout: .seconds(60)), "Prometheus did not scrape: \((try? String(contentsOfFile: folder.file("prometheus.log"), encoding: .utf8)) ?? "")")
        let query = httpRequest(port: webPort, path: "/api/v1/query?query=fieldagent_readings_total%7Bsensor%3D%22ambient%22%2Cchannel%3D%22temperature%22%7D")
        #expect(query?.status == 200)
        #expect(query?.body.contains("\"job\":\"fieldagent\"") == true, "\(query?.body ?? "no answer")")
        let up = httpRequest(port: webPort, path: "/api/v1/query?query=up%7Bjob%3D%22fieldagent%22%7D")
        #expect(up?.body.contains("\"1\"]") == true, "up: \(up?.body ?? "no answer")")
        await harness.cleanUp()
    }
}

extension URL {
    func creatingFile() -> URL {
        FileManager.default.createFile(atPath: path, contents: nil)
        return self
    }
}

/// Issue 18, the technician's page: read-only without the token, actions refused with 401, the
/// planted fault shown, rendered by headless Chromium at a phone's viewport.
@Suite(.serialized) struct TechnicianPageTests {
    let token = "0123456789abcdef0123456789abcdef"

    func start(_ board: String, folder: TemporaryDirectory) throws -> RunningAgent {
        try token.write(toFile: folder.file("page-token"), atomically: true, encoding: .utf8)
        chmod(folder.file("page-token"), 0o600)
        return try RunningAgent(board: board, configure: {
            $0.observe.pageListen = ListenAddress(host: "127.0.0.1", port: 0)
            $0.observe.pageTokenFile = folder.file("page-token")
        })
    }

    @Test func actionsNeedTheDeviceToken() throws {
        let folder = try TemporaryDirectory(prefix: "fieldagent-page")
        let running = try start("sim-factory-line", folder: folder)
        defer { running.agent.stop() }
        #expect(running.waitForMessages(1))
        let port = try #require(running.agent.pagePort)
        #expect(httpRequest(port: port, path: "/")?.status == 200)
        #expect(httpRequest(port: port, method: "POST", path: "/api/blink")?.status == 401)
        #expect(httpRequest(port: port, method: "POST", path: "/api/doctor", headers: ["Authorization": "Bearer wrong"])?.status == 401)
        #expect(httpRequest(port: port, method: "POST", path: "/api/nothing")?.status == 401)
        #expect(httpRequest(port: port, method: "GET", path: "/api/blink")?.status == 405)
        let blink = httpRequest(port: port, method: "POST", path: "/api/blink", headers: ["Authorization": "Bearer \(token)"], body: "{\"seconds\": 1}")
        #expect(blink?.status == 200)
        #expect(blink?.body.contains("\"blinking\":true") == true)
        let doctor = httpRequest(port: port, method: "POST", path: "/api/doctor", headers: ["Authorization": "Bearer \(token)"])
        #expect(doctor?.status == 200)
        #expect(doctor?.body.contains("\"checks\"") == true)
        // The doctor's checks are on the page after a run.
        #expect(httpRequest(port: port, path: "/")?.body.contains("id=\"doctor\"") == true)
        // A token file others may read is no token.
        chmod(folder.file("page-token"), 0o644)
        #expect(httpRequest(port: port, method: "POST", path: "/api/blink", headers: ["Authorization": "Bearer \(token)"])?.status == 401)
    }

    /// Issue 18 item 7 from the page: `POST /api/calibrate` takes one channel's calibration in the
    /// twin's shape, refuses what the twin refuses (400 with the reason), applies a good one to
    /// the readings at once and keeps it with the twin settings.
    @Test func calibrateFromThePage() throws {
        let folder = try TemporaryDirectory(prefix: "fieldagent-page-calibrate")
        try token.write(toFile: folder.file("page-token"), atomically: true, encoding: .utf8)
        chmod(folder.file("page-token"), 0o600)
        let running = try RunningAgent(board: "sim-factory-line", configure: {
            $0.observe.pageListen = ListenAddress(host: "127.0.0.1", port: 0)
            $0.observe.pageTokenFile = folder.file("page-token")
            $0.core.stateDirectory = folder.file("state")
        })
        defer { running.agent.stop() }
        #expect(running.waitForMessages(2))
        let port = try #require(running.agent.pagePort)
        let page = try #require(httpRequest(port: port, path: "/"))
        #expect(page.body.contains("<form data-sensor=\"ambient\" data-channel=\"temperature\">"))
        #expect(page.body.contains("<form data-sensor=\"motor\" data-channel=\"vibrationRMS\">"))
        let raw = try #require(running.sent.last.withLock { $0.last }?.readings["ambient"]?["temperature"])
        #expect(raw.calibration == nil)

        let good = #"{"ambient":{"temperature":{"offset":10}}}"#
        let auth = ["Authorization": "Bearer \(token)"]
        #expect(httpRequest(port: port, method: "POST", path: "/api/calibrate", body: good)?.status == 401)
        #expect(httpRequest(port: port, method: "POST", path: "/api/calibrate", headers: ["Authorization": "Bearer wrong"], body: good)?.status == 401)
        // Refused with the twin's own reasons; nothing changes.
        for (body, reason) in [(#"{"ambient":{"temperature":{"offset":40}}}"#, "beyond ±12.5 °C"),
                               (#"{"ambient":{"co2":{"offset":1}}}"#, "ambient does not report co2"),
                               (#"{"attic":{"temperature":{"offset":1}}}"#, "'attic' is not a sensor of this board"),
                               (#"{"ambient":{"temperature":{"offset":1},"humidity":{"offset":1}}}"#, "one channel"),
                               ("banana", "one channel")] {
            let refused = httpRequest(port: port, method: "POST", path: "/api/calibrate", headers: auth, body: body)
            #expect(refused?.status == 400, "\(body)")
            #expect(refused?.body.contains(reason) == true, "\(body): \(refused?.body ?? "no answer")")
        }
        #expect(running.agent.settings.calibrations.isEmpty)

        let applied = try #require(httpRequest(port: port, method: "POST", path: "/api/calibrate", headers: auth, body: good))
        #expect(applied.status == 200, "\(applied.body)")
        #expect(applied.body.contains(#""label":"offset +10.00""#), "\(applied.body)")
        #expect(running.agent.settings.calibration("ambient", .temperature) == .offset(10))
        // The next messages say which calibration produced them, and are 10 °C above the raw ones.
        #expect(running.waitForMessage { $0?.readings["ambient"]?["temperature"]?.calibration == "offset +10.00" })
        let calibrated = try #require(running.sent.last.withLock { $0.last }?.readings["ambient"]?["temperature"])
        #expect(calibrated.avg > raw.max + 5, "raw \(raw.min)…\(raw.max), calibrated \(calibrated.avg)")
        #expect(running.sent.last.withLock { $0.last }?.readings["ambient"]?["humidity"]?.calibration == nil)
        #expect(httpRequest(port: port, path: "/")?.body.contains("ambient temperature <small>offset +10.00</small>") == true)
        // Kept with the twin settings: an agent started on the same state directory has it.
        let restarted = Agent(board: try openBoard("sim-factory-line"),
                              options: .init(agentVersion: "test", config: testConfig(sendFrequency: .seconds(30), stateDirectory: folder.file("state"))),
                              hub: nil, logger: Logger(label: "test"))
        #expect(restarted.settings.calibration("ambient", .temperature) == .offset(10))
        // null removes it.
        let removed = httpRequest(port: port, method: "POST", path: "/api/calibrate", headers: auth, body: #"{"ambient":{"temperature":null}}"#)
        #expect(removed?.status == 200)
        #expect(running.agent.settings.calibrations.isEmpty)
    }

    /// Chromium at 390×844 (a phone): the healthy page, and the page of a board whose BME280 is
    /// absent (boards/sim-faulty.yaml). The DOM Chromium built must show the fault. With
    /// UPDATE_SCREENSHOTS=1 the screenshots are written to docs/.
    @Test(arguments: ["sim-factory-line", "sim-faulty"])
    func chromiumShowsTheSensorsHealth(board: String) throws {
        let chromium = try program("chromium")
        let folder = try TemporaryDirectory(prefix: "fieldagent-chromium")
        let running = try start(board, folder: folder)
        defer { running.agent.stop() }
        #expect(running.waitForMessages(4))
        let port = try #require(running.agent.pagePort)
        // The doctor's view too, as a technician would run it.
        _ = httpRequest(port: port, method: "POST", path: "/api/doctor", headers: ["Authorization": "Bearer \(token)"])
        let url = "http://127.0.0.1:\(port)/"
        let common = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars",
                      "--user-data-dir=\(folder.file("profile"))", "--window-size=390,844"]
        let dom = try runProgram(chromium, common + ["--dump-dom", url])
        #expect(dom.status == 0, "chromium --dump-dom: \(dom.output.suffix(2000))")
        if board == "sim-faulty" {
            #expect(dom.output.contains("<p id=\"summary\" class=\"banner fault\">Sensor fault: ambient"), "\(dom.output.prefix(3000))")
            #expect(dom.output.contains("<tr class=\"fault\" data-sensor=\"ambient\""))
        } else {
            #expect(dom.output.contains("<p id=\"summary\" class=\"banner ok\">All 3 sensors healthy</p>"), "\(dom.output.prefix(3000))")
            #expect(!dom.output.contains("<tr class=\"fault\" data-sensor="))
        }
        #expect(dom.output.contains("<polyline"), "no chart")
        #expect(dom.output.contains("<form data-sensor=\"ambient\" data-channel=\"temperature\">"), "no calibration form")
        let screenshot = folder.file("page.png")
        let shot = try runProgram(chromium, common + ["--screenshot=\(screenshot)", url])
        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        #expect(shot.status == 0)
        #expect(png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        // The PNG's width and height (IHDR) are the phone viewport's.
        #expect(png.count > 24 && png[16...23].elementsEqual([0, 0, 0x01, 0x86, 0, 0, 0x03, 0x4C]))
        if ProcessInfo.processInfo.environment["UPDATE_SCREENSHOTS"] == "1" {
            let name = board == "sim-faulty" ? "technician-page-fault.png" : "technician-page-healthy.png"
            try? FileManager.default.removeItem(atPath: repositoryPath("docs/\(name)"))
            try FileManager.default.copyItem(atPath: screenshot, toPath: repositoryPath("docs/\(name)"))
        }
    }
}
