import Diagnostics
import FoundationEssentials
import HAL
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HubClient
import Identity
import IoTHub
import MQTT
import Outbox
import PredictorLink
import Predictor
import Transport

/// The doctor's checks beyond the board: the system clock, the outbox, the device certificate,
/// the hub link and the spike predictor, each OK/WARN/FAIL with what was found and the fix.
public enum AgentChecks {
    /// Depth, oldest entry and drops of the outbox in `stateDirectory` (read-only; the running
    /// agent's own `status.json` is preferred when it is fresh).
    public static func outbox(stateDirectory: String, now: Date = Date()) -> Check {
        let id = "outbox"
        let title = "outbox \(stateDirectory)/outbox.db"
        if let status = AgentStatus.find(runtime: nil, state: stateDirectory, environment: ProcessInfo.processInfo.environment).status,
           status.processAlive,
           now.timeIntervalSince(status.updated) < 30, let outbox = status.outbox {
            return verdict(id: id, title: title, depth: outbox.depth, oldest: outbox.oldestAgeSeconds,
                           aggregates: outbox.droppedAggregates, alerts: outbox.droppedAlerts, unreadable: outbox.droppedUnreadable,
                           durable: outbox.mode.hasPrefix("durable"), mode: outbox.mode, source: "the running agent (pid \(status.pid))")
        }
        switch Outbox.inspect(path: stateDirectory + "/outbox.db", now: now) {
        case .success(let stats):
            return verdict(id: id, title: title, depth: stats.depth, oldest: stats.oldestAge.map { Double($0.components.seconds) },
                           aggregates: stats.drops.aggregates, alerts: stats.drops.alerts, unreadable: stats.drops.unreadable,
                           durable: true, mode: "durable", source: "the file (no agent running)")
        case .failure(let error):
            if !FileManager.default.fileExists(atPath: stateDirectory + "/outbox.db") {
                return Check(id: id, title: title, status: .ok, detail: "no outbox yet: the agent has not sent to a hub with this state directory")
            }
            return Check(id: id, title: title, status: .fail, detail: error.description,
                         fix: "stop the agent and move \(stateDirectory)/outbox.db aside; the agent starts a fresh one")
        }
    }

    static func verdict(id: String, title: String, depth: Int, oldest: Double?, aggregates: UInt64, alerts: UInt64,
                        unreadable: UInt64, durable: Bool, mode: String, source: String) -> Check {
        let age = oldest.map { " (oldest \(span($0)))" } ?? ""
        let drops = aggregates + alerts + unreadable
        let detail = "\(depth) message(s) waiting\(age); dropped \(aggregates) aggregate(s), \(alerts) alert(s), \(unreadable) unreadable; from \(source)"
        if !durable {
            return Check(id: id, title: title, status: .fail, detail: "\(mode); \(detail)",
                         fix: "free disk space or make the state directory writable; the agent goes back to the file by itself")
        }
        if drops > 0 {
            return Check(id: id, title: title, status: .warn, detail: detail,
                         fix: "readings were dropped (quota or age): raise outbox.quota / outbox.max_age, or restore the link sooner")
        }
        if let oldest, oldest > 3600 {
            return Check(id: id, title: title, status: .warn, detail: detail,
                         fix: "the backlog is over an hour old: check the hub link (fieldagent status)")
        }
        return Check(id: id, title: title, status: .ok, detail: detail)
    }

    static func span(_ seconds: Double) -> String {
        switch seconds {
        case ..<120: "\(Int(seconds)) s"
        case ..<7200: "\(Int(seconds / 60)) min"
        case ..<172_800: "\(Int(seconds / 3600)) h"
        default: "\(Int(seconds / 86400)) days"
        }
    }

    /// `fieldagent certs check` as doctor rows.
    public static func certificate(certificateFile: String, keyFile: String, trustAnchors: String?, deviceID: String,
                                   now: Date = Date()) -> [Check] {
        var trust: TrustAnchors?
        var rows: [Check] = []
        if let trustAnchors {
            do { trust = try TrustAnchors.at(trustAnchors) } catch {
                rows.append(Check(id: "cert:trust", title: "trust anchors \(trustAnchors)", status: .fail, detail: "\(error)",
                                  fix: "point --ca at the PEM file or folder of the CA that issued the hub's certificate"))
            }
        }
        let report = CertificateReport.check(certificateFile: certificateFile, keyFile: keyFile, trust: trust, deviceID: deviceID, now: now)
        for check in report.checks {
            let status: CheckStatus = switch check.status {
            case .ok: .ok
            case .warn: .warn
            case .fail: .fail
            }
            rows.append(Check(id: "cert:\(check.name)", title: "certificate: \(check.name)", status: status,
                              detail: check.reason, fix: status == .ok ? nil : check.reason))
        }
        return rows
    }

    /// Connects to the hub as the agent would (TLS with the device certificate, MQTT CONNECT)
    /// and reports the outcome: CONNACK accepted, refused (with its code), or where it failed.
    public static func link(_ settings: HubClient.Settings, timeout: Duration = .seconds(10)) -> Check {
        let id = "link"
        let title = "hub link \(settings.host):\(settings.port)"
        do {
            let identity = try X509Identity.load(certificateFile: settings.certificateFile, keyFile: settings.keyFile)
            let trust = try TrustAnchors.at(settings.trustAnchors)
            let tls = try TLSConnection.connect(host: settings.host, port: settings.port,
                                                configuration: .client(trustAnchors: trust, identity: identity),
                                                expectedHostName: settings.expectedHostName, proxy: settings.proxy)
            defer { tls.close() }
            // A wss:// hub: MQTT inside a WebSocket on the TLS connection.
            var webSocket: WebSocketClient?
            var early: [UInt8] = []
            if let path = settings.webSocketPath {
                (webSocket, early) = try WebSocketClient.open(over: tls, host: settings.expectedHostName ?? settings.host,
                                                              port: settings.port, path: path, timeout: timeout)
            }
            func send(_ bytes: [UInt8], timeout: Duration) throws { try tls.write(webSocket?.frame(bytes) ?? bytes, timeout: timeout) }
            let connection = IoTHubDeviceConnection(hostName: settings.userNameHost, deviceID: settings.deviceID,
                                                    modelID: settings.modelID, keepAliveSeconds: 60)
            var connect = try connection.connectPacket()
            connect.cleanSession = true  // a probe: leave the agent's session alone
            connect.clientID = settings.deviceID
            try send(try MQTTEncoder.encode(.connect(connect)), timeout: timeout)
            var decoder = MQTTDecoder()
            let end = ContinuousClock.now + timeout
            while ContinuousClock.now < end {
                var bytes = early
                early = []
                if bytes.isEmpty {
                    bytes = try tls.read(max: 4096, timeout: end - ContinuousClock.now)
                    if bytes.isEmpty { break }
                    if var client = webSocket {
                        let output = try client.feed(bytes)
                        webSocket = client
                        if !output.reply.isEmpty { try tls.write(output.reply, timeout: timeout) }
                        if output.closed { break }
                        bytes = output.data
                    }
                }
                for packet in try decoder.feed(bytes) {
                    guard case .connAck(let ack) = packet else { continue }
                    try? send(try MQTTEncoder.encode(.disconnect), timeout: .seconds(1))
                    if ack.returnCode == .accepted {
                        let over = settings.webSocketPath.map { ", WebSocket \($0)" } ?? ""
                        return Check(id: id, title: title, status: .ok,
                                     detail: "TLS \(tls.protocolVersion)\(over), MQTT CONNECT accepted as \(settings.deviceID)")
                    }
                    return Check(id: id, title: title, status: .fail, detail: "the hub refused the connection: CONNACK \(ack.returnCode)",
                                 fix: "register the device (its thumbprint or its CA) at the hub under the id \(settings.deviceID)")
                }
            }
            return Check(id: id, title: title, status: .fail, detail: "no CONNACK within \(timeout)",
                         fix: "check that \(settings.host):\(settings.port) is an MQTT hub (IoT Hub, IoT Edge, LocalHub)")
        } catch {
            return Check(id: id, title: title, status: .fail, detail: "\(error)",
                         fix: "see the reason: DNS, firewall (port \(settings.port)), trust anchors, or the device certificate")
        }
    }

    /// The running agent's own link, as its hub client sees it (same id and title as ``link(_:timeout:)``).
    public static func liveLink(_ client: HubClient?, settings: HubClient.Settings) -> Check {
        let id = "link"
        let title = "hub link \(settings.host):\(settings.port)"
        guard let client else {
            return Check(id: id, title: title, status: .warn, detail: "the agent's link has not started yet",
                         fix: "wait for the agent to finish starting, then run the diagnostics again")
        }
        switch client.state {
        case .connected:
            return Check(id: id, title: title, status: .ok, detail: "connected as \(settings.deviceID)")
        case .connecting:
            return Check(id: id, title: title, status: .warn, detail: "connecting as \(settings.deviceID)",
                         fix: "wait a few seconds; if it stays so, see fieldagent status for the last error")
        case .waiting(let reason):
            return Check(id: id, title: title, status: .fail, detail: "not connected: \(reason)",
                         fix: "see the reason: DNS, firewall (port \(settings.port)), trust anchors, the device certificate or its registration")
        case .stopped:
            return Check(id: id, title: title, status: .fail, detail: "the link is stopped (the agent is shutting down)",
                         fix: "start the agent again")
        }
    }

    /// No correct clock reads earlier than this: the day this agent's clock check was built
    /// (2026-12-03 00:00 UTC). A board whose clock is before it was never set (no battery-backed
    /// clock, no NTP yet), and TLS certificates look not yet valid to it.
    public static let buildDate = Date(timeIntervalSince1970: 1_796_256_000)

    /// The wall clock: synchronised or not, by whose account, with the kernel's error bounds.
    /// Earlier than ``buildDate`` is a failure, unsynchronised a warning. On a simulated board
    /// readings carry the simulation's time, so only the date is checked.
    public static func clock(_ wall: any WallClock, simulatedBoard: Bool, buildDate: Date = buildDate) -> Check {
        let id = "clock"
        let title = "system clock"
        let now = Date(timeIntervalSince1970: wall.sinceEpoch.seconds)
        let style = Date.ISO8601FormatStyle()
        let fix = "enable NTP (timedatectl set-ntp true), see systemctl status systemd-timesyncd, and check the network reaches the NTP server (UDP 123)"
        if now < buildDate {
            return Check(id: id, title: title, status: .fail,
                         detail: "reads \(now.formatted(style)), earlier than this build (\(buildDate.formatted(style))): the clock was never set",
                         fix: fix)
        }
        if simulatedBoard {
            return Check(id: id, title: title, status: .ok,
                         detail: "simulated board: readings carry the simulation's time from start (synchronisation not checked)")
        }
        let synchronisation = wall.synchronisation
        if synchronisation.synchronised {
            return Check(id: id, title: title, status: .ok, detail: "\(synchronisation), reads \(now.formatted(style))")
        }
        return Check(id: id, title: title, status: .warn,
                     detail: "\(synchronisation), reads \(now.formatted(style)): readings are marked clockSynchronised: false and the agent waits up to clock.sync_wait before connecting",
                     fix: fix)
    }

    /// Whether the spike predictor answers on its socket within `deadline`.
    public static func predictor(socket: String, deadline: Duration = .milliseconds(200)) -> Check {
        let client = PredictorClient(path: socket, deadline: deadline)
        defer { client.close() }
        let probe = PredictorSample(device: "doctor-\(getpid())", channel: "probe", captureTime: Date().timeIntervalSince1970, value: 0)
        do {
            let verdict = try client.classify(probe)
            return Check(id: "predictor", title: "spike predictor \(socket)", status: .ok, detail: "answers with model \(verdict.modelID)")
        } catch {
            return Check(id: "predictor", title: "spike predictor \(socket)", status: .warn,
                         detail: "\(error); the agent uses its fallback detector meanwhile",
                         fix: "start it: spike-predictor serve --socket \(socket) --model models/spike-gbt.v3.json")
        }
    }
}
