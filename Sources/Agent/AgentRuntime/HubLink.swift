import Configuration
import FoundationEssentials
import HAL
import HubClient
import Identity
import Transport
import IoTHub
import Logging
import Outbox
import Synchronization
import SystemCalls

/// Where the hub is and who this device is.
public struct LinkConfig: SettingsSection {
    public var deviceID: String?
    public var host: HubEndpoint?
    public var port = IoTHubLimits.mqttPort
    public var cert: String?
    public var key: String?
    public var ca: String?
    public var modelID = "dtmi:fieldagent:device:FieldAgent;1"
    public var expectedHostName: String?
    public var proxy: HTTPProxy?
    /// An IoT Edge gateway to connect through; `host` stays the IoT hub's name (the user name carries it).
    public var gateway: HubEndpoint?
    /// This device's share of the hub's daily message quota, in 4 KB messages (status shows the fraction used).
    public var dailyQuota: Int?

    public init() {}

    public static let keys: [SettingKey<LinkConfig>] = [
        SettingKey("device_id", \.deviceID, .deviceID, flag: "--device-id", absent: "the board file's device_id",
                   "The device id at the hub; must equal the certificate's CN."),
        SettingKey("hub.host", \.host, .endpoint, flag: "--hub", absent: "none: no hub, telemetry goes to stdout",
                   "The hub: IoT Hub, an IoT Edge gateway, LocalHub or an MQTT broker with mutual TLS, as HOST[:PORT] (MQTT over TLS) or wss://HOST[:PORT][/PATH] (MQTT over WebSockets on TLS: port 443, path /$iothub/websocket unless given). A port given here wins over hub.port."),
        SettingKey("hub.port", \.port, .integer(1...65535), "The hub's MQTT over TLS port."),
        SettingKey("hub.cert", \.cert, .path, flag: "--cert", absent: "none (a hub needs one)", "The device certificate chain (PEM, leaf first)."),
        SettingKey("hub.key", \.key, .keyLocation, flag: "--key", absent: "none (a hub needs one)",
                   "The device private key: a PEM file (mode 0600) or a TPM key URI such as handle:0x81000001 (TCTI from TPM2OPENSSL_TCTI)."),
        SettingKey("hub.ca", \.ca, .path, flag: "--ca", absent: "none (a hub needs one)",
                   "Trust anchors for the hub's certificate: a PEM file or a folder (certs/trust/ for Azure)."),
        SettingKey("hub.model_id", \.modelID, .text, flag: "--model-id",
                   "The DTDL model id announced at connect (IoT Plug and Play; firmware-interface/fieldagent.dtdl.json)."),
        SettingKey("hub.expected_host_name", \.expectedHostName, .text, flag: "--expected-host-name", absent: "the host of hub.host",
                   "The name the hub's certificate must carry, when it differs from the host connected to."),
        SettingKey("hub.proxy", \.proxy, .proxy, flag: "--proxy", absent: "none: connect directly",
                   "An HTTP proxy to reach the hub through (CONNECT): http://[user:password@]host:port, basic authentication."),
        SettingKey("hub.gateway", \.gateway, .endpoint, flag: "--gateway", absent: "none: connect to hub.host",
                   "An IoT Edge gateway to connect through (HOST[:PORT]; Azure's GatewayHostName): TCP and the certificate check go to it (trust its edge CA with hub.ca), the MQTT user name keeps hub.host, the IoT hub's name."),
        SettingKey("hub.daily_quota", \.dailyQuota, .integer(1...Int(Int32.max)), absent: "none: status shows what was used, no fraction",
                   "This device's share of the hub's daily message quota in 4 KB messages (an S1 unit: 400000 for the whole hub); status and the technician's page show the fraction used today (UTC)."),
    ]

    /// A hub needs the device's certificate and key and the trust anchors for the hub.
    public static func requirements(_ layers: SettingLayers) -> [Requirement] {
        guard layers.winner("hub.host") != nil else { return [] }
        return ["hub.cert", "hub.key", "hub.ca"].map { Requirement($0, "a hub needs the device certificate, its key and the hub's trust anchors") }
    }

    /// How to reach the hub (nil: no hub configured).
    public func clientSettings(defaultDeviceID: String) -> HubClient.Settings? {
        guard let host, let cert, let key, let ca else { return nil }
        // Through a gateway: TCP, TLS and the transport (wss:// or not) are the gateway's.
        let target = gateway ?? host
        let defaultPort = target.webSocketPath == nil ? UInt16(port) : 443
        var settings = HubClient.Settings(host: target.host, port: target.port ?? defaultPort, deviceID: deviceID ?? defaultDeviceID,
                                          certificateFile: cert, keyFile: key, trustAnchors: ca, modelID: modelID)
        if gateway != nil { settings.hubName = host.host }
        settings.expectedHostName = expectedHostName
        settings.webSocketPath = target.webSocketPath
        settings.proxy = proxy
        return settings
    }
}

/// `HOST` or `HOST:PORT` (an IPv6 literal in brackets keeps its colons): MQTT over TLS; or
/// `wss://HOST[:PORT][/PATH]`: MQTT over WebSockets on TLS (port 443 and path
/// `/$iothub/websocket` unless given), for networks that let only HTTPS out.
public struct HubEndpoint: Sendable, Equatable {
    public var host: String
    public var port: UInt16?
    /// The WebSocket path for a `wss://` address; nil for MQTT directly over TLS.
    public var webSocketPath: String?

    /// IoT Hub's (and DPS's) WebSocket path.
    public static let iotHubWebSocketPath = "/$iothub/websocket"

    public init(host: String, port: UInt16? = nil, webSocketPath: String? = nil) {
        self.host = host
        self.port = port
        self.webSocketPath = webSocketPath
    }

    public static func parse(_ text: String) -> Result<HubEndpoint, SettingProblem> {
        if text.hasPrefix("wss://") {
            var rest = Substring(text.dropFirst(6))
            var path = iotHubWebSocketPath
            if let slash = rest.firstIndex(of: "/") {
                if rest[slash...] != "/" { path = String(rest[slash...]) }
                rest = rest[..<slash]
            }
            guard !rest.isEmpty else { return .failure(SettingProblem("expected wss://HOST[:PORT][/PATH]")) }
            return parse(String(rest)).map { HubEndpoint(host: $0.host, port: $0.port, webSocketPath: path) }
        }
        guard !text.contains("://") else {
            return .failure(SettingProblem("'\(text.prefix(64))': expected HOST[:PORT] (MQTT over TLS) or wss://HOST[:PORT] (MQTT over WebSockets)"))
        }
        guard !text.isEmpty else { return .failure(SettingProblem("expected HOST or HOST:PORT")) }
        guard let colon = text.lastIndex(of: ":"), !text.hasSuffix("]") else { return .success(HubEndpoint(host: text)) }
        guard let port = UInt16(text[text.index(after: colon)...]), port > 0, colon > text.startIndex else {
            return .failure(SettingProblem("'\(text.prefix(64))' has no valid port after ':'"))
        }
        return .success(HubEndpoint(host: String(text[..<colon]), port: port))
    }
}

extension SettingKind where Value == HubEndpoint {
    static var endpoint: Self {
        Self(type: "HOST[:PORT] or wss://HOST[:PORT]", parse: { text, _ in HubEndpoint.parse(text) },
             format: { endpoint in
                 let address = endpoint.port.map { "\(endpoint.host):\($0)" } ?? endpoint.host
                 guard let path = endpoint.webSocketPath else { return address }
                 return "wss://\(address)\(path == HubEndpoint.iotHubWebSocketPath ? "" : path)"
             })
    }
}

/// How the outbox is bounded and drained (the agent's keys over ``OutboxConfiguration``).
public struct OutboxConfig: SettingsSection {
    public var quotaBytes = OutboxConfiguration().quotaBytes
    public var maximumAge = OutboxConfiguration().maximumAge
    /// Backlog hub messages per second at most: the ceiling of the adaptive drain rate (live
    /// messages are not paced).
    public var drainRate = 50.0
    /// The first backlog drain after start waits a random delay up to this (live messages do not).
    public var drainJitter: Duration = .seconds(30)

    public init() {}

    public static let keys: [SettingKey<OutboxConfig>] = [
        SettingKey("outbox.quota", \.quotaBytes, .byteSize(minimum: 64 << 10), flag: "--outbox-quota",
                   "Outbox size quota; over it the oldest aggregates are dropped first (and counted), alerts last."),
        SettingKey("outbox.max_age", \.maximumAge, .duration(.seconds(60) ... .seconds(366 * 86400)), flag: "--outbox-max-age",
                   "Messages older than this are dropped (and counted)."),
        SettingKey("outbox.drain_rate", \.drainRate, .number(0.1...100_000), flag: "--drain-rate",
                   "Backlog hub messages (batches) per second at most after a reconnect: the ceiling of a rate that halves on slow acknowledgements or a throttling disconnect and climbs back while acknowledgements are fast, staying under the rate the hub last throttled (live readings are not paced)."),
        SettingKey("outbox.drain_jitter", \.drainJitter, .duration(.zero ... .seconds(3600)), flag: "--drain-jitter",
                   "A backlog from before a start waits a random delay up to this before it drains, so boards powered up together (a site-wide power restore) do not drain at once; live readings are not delayed."),
    ]

    public var outboxConfiguration: OutboxConfiguration {
        var configuration = OutboxConfiguration()
        configuration.quotaBytes = quotaBytes
        configuration.maximumAge = maximumAge
        return configuration
    }
}

/// The hub link and the durable outbox that feeds it: every message is written to the outbox
/// before it is sent and deleted after its PUBACK. Started last and stopped first, with a flush.
final class HubLink: Feature {
    struct Configuration: Sendable {
        var settings: HubClient.Settings
        var outbox: OutboxConfig
        var stateDirectory: String?
        var flushTimeout: Duration
        /// Capture times, and "now" for the outbox's ages.
        var capture: CaptureClock
        /// How long to wait for a synchronised wall clock before the first connection (real boards).
        var syncWait: Duration
        /// `hub.daily_quota`.
        var dailyQuota: Int? = nil
    }

    let name = "link"
    let configuration: Configuration
    let logger: Logger
    let onEvent: @Sendable (IoTHubDeviceEvent) -> Void
    /// Told each message's publish latency (handed to the link → PUBACK).
    let publishLatency = CallbackSlot<Duration>()

    struct State {
        /// Kept after stop, so its final state and statistics stay readable.
        var client: HubClient?
        var source: OutboxSource?
        /// The source whose quota meter status reads (kept after stop).
        var quotaSource: OutboxSource?
        var flushed = true
        var leftUnacknowledged = 0
        /// Whether the client was started (it is not while the clock wait lasts).
        var clientStarted = false
        var stopping = false
    }
    let state = Mutex(State())
    /// Ends the wait for a synchronised clock at stop.
    let stopWaiting = WakeUp()
    /// Runs the wait for a synchronised clock, so start returns and sampling goes on.
    let clockWait = SerialThread(idleExit: .zero)
    let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    init(configuration: Configuration, logger: Logger, onEvent: @escaping @Sendable (IoTHubDeviceEvent) -> Void) {
        self.configuration = configuration
        self.logger = logger
        self.onEvent = onEvent
    }

    /// Opens the outbox and starts connecting.
    ///
    /// - Throws: ``OutboxError`` for an invalid outbox setting or state directory.
    func start() throws {
        let directory = try StateDirectory(configuration.stateDirectory ?? StateDirectory.defaultPath)
        let capture = configuration.capture
        let outbox = try Outbox(directory: directory, configuration: configuration.outbox.outboxConfiguration,
                                clock: { capture.timeline() }, logger: logger)
        // Taken-but-not-deleted messages stay within the link's in-flight window and its queue
        // (2 × window), so the window stays full while PUBACKed rows wait for their batched
        // deletion, and a crash sends at most that many twice.
        var random = SystemRandomNumberGenerator()
        let hold = outbox.depth > 0 ? OutboxSource.startupDelay(maximum: configuration.outbox.drainJitter, using: &random) : .zero
        let source = try OutboxSource(outbox: outbox, deviceID: configuration.settings.deviceID, drainRate: configuration.outbox.drainRate,
                                      maximumUnsettled: 2 * configuration.settings.inFlightWindow, startupHold: hold)
        source.latencyObserver.set { [weak self] latency in self?.publishLatency(latency) }
        let stats = outbox.statistics
        if stats.depth > 0 {
            logger.notice("outbox \(outbox.path): \(stats.depth) message(s) from before this start waiting for the hub; they drain in batches at up to \(configuration.outbox.drainRate) hub messages/s once connected, after a start-up jitter of \(hold)",
                          metadata: ["feature": "outbox"])
        }
        // What this run queues is stamped on this run's clock: a step moves those capture times
        // (earlier runs' messages were stamped on a clock that may have been right).
        let firstOfThisRun = stats.nextSequence
        capture.observeSteps { [logger] step in
            let moved = outbox.shiftCaptureTimes(by: step, fromSequence: firstOfThisRun)
            if moved > 0 {
                logger.notice("outbox: \(moved) queued message(s) of this run re-anchored on the new time", metadata: ["feature": "outbox"])
            }
        }
        let client = HubClient(settings: configuration.settings, logger: logger, source: source, onEvent: onEvent)
        state.withLock {
            $0.client = client
            $0.source = source
            $0.quotaSource = source
            $0.clientStarted = false
            $0.stopping = false
        }
        _ = stopWaiting.consume()
        guard capture.needsWait, configuration.syncWait > .zero else {
            startClient()
            return
        }
        let started = clockWait.submit { [self] in
            _ = capture.waitForSynchronisation(limit: configuration.syncWait, stop: stopWaiting,
                                               shouldStop: { state.withLock { $0.stopping } })
            startClient()
        }
        if started != 0 {
            logger.warning("cannot start the thread that waits for a synchronised clock (\(POSIX.describe(errno: started))); connecting now", metadata: ["feature": "link"])
            startClient()
        }
    }

    /// Starts the hub client unless the link is stopping.
    private func startClient() {
        let client = state.withLock { s -> HubClient? in
            guard !s.stopping, !s.clientStarted else { return nil }
            s.clientStarted = true
            return s.client
        }
        client?.start()
    }

    /// Waits up to the flush time-out for the hub's acknowledgements, then disconnects and closes
    /// the outbox (what is unacknowledged stays in it for the next start).
    func stop() {
        state.withLock { $0.stopping = true }
        stopWaiting.raise()
        clockWait.waitForQueuedJobs()
        let (client, source, started) = state.withLock { ($0.client, $0.source, $0.clientStarted) }
        guard let client, let source else { return }
        let flushed = started ? client.flush(timeout: configuration.flushTimeout) : client.unacknowledged == 0
        let left = client.unacknowledged
        if started { client.stop() }
        source.close()
        // Let go of the database now (a restart in the same process must be able to open it).
        source.outbox.close()
        state.withLock {
            $0.source = nil
            $0.flushed = flushed
            $0.leftUnacknowledged = left
        }
    }

    func receive(_ event: IoTHubDeviceEvent) {
        guard case .cloudToDevice(let properties, let payload) = event else { return }
        let handled: String
        switch CloudCommand(payload: payload) {
        case .identify(let seconds): handled = "identify: blinking the status LED for \(Int(seconds)) s"
        case .sendNow: handled = "sendNow: sending the period in progress"
        case .unknown(let reason): handled = "logged only: \(reason)"
        }
        logger.notice("cloud-to-device message \(properties.messageID ?? "(no id)"): \(String(decoding: payload.prefix(200), as: UTF8.self)) (\(handled))",
                      metadata: ["feature": "c2d"])
    }

    /// The hub's daily quota used today; nil before the link started.
    var quota: AgentStatus.Quota? {
        state.withLock { $0.quotaSource }.map { AgentStatus.Quota($0.quotaToday, dailyQuota: configuration.dailyQuota) }
    }

    var client: HubClient? { state.withLock { $0.client } }
    var outbox: Outbox? { state.withLock { $0.source?.outbox } }
    /// False when the last stop left messages unacknowledged.
    var flushed: Bool { state.withLock { $0.flushed } }
    var leftUnacknowledged: Int { state.withLock { $0.leftUnacknowledged } }
    /// Messages the hub acknowledged since start.
    var acknowledged: Int {
        let (client, source) = state.withLock { ($0.client, $0.source) }
        return (client?.statistics.acknowledged ?? 0) + (source?.acknowledgedCount ?? 0)
    }

    /// A message's JSON body: telemetry through its own writer (the same bytes, a fraction of
    /// the cost), anything else through `encoder`.
    static func body<Message: Encodable>(_ message: Message, encoder: JSONEncoder) -> [UInt8] {
        if let telemetry = message as? TelemetryMessage { return telemetry.jsonBytes() }
        return (try? encoder.encode(message)).map(Array.init) ?? []
    }

    /// Writes `message` durably with the outbox's next sequence number in it (and, with the
    /// device id, in its `$.mid` when sent). Returns that number, or nil when it could not be
    /// queued (logged).
    func enqueue<Message: Encodable>(_ message: Message, kind: OutboxKind, capturedAt: Date, seq: WritableKeyPath<Message, UInt64>,
                                     properties: OutboxProperties) -> UInt64? {
        guard let outbox else { return nil }
        do {
            return try outbox.enqueue(kind: kind, capturedAt: capturedAt, properties: properties) { number in
                var numbered = message
                numbered[keyPath: seq] = number
                return Self.body(numbered, encoder: encoder)
            }.seq
        } catch {
            logger.error("\(kind == .alert ? "spike alert" : "telemetry message") not queued: \(error)", metadata: ["feature": "outbox"])
            return nil
        }
    }

    /// Like ``enqueue(_:kind:capturedAt:seq:properties:)`` without waiting for the commit: the
    /// message joins the outbox's next group commit and `accepted` gets it numbered once it is
    /// durable (on the outbox's committing thread), or nil when it could not be queued (logged).
    /// Without an outbox, `accepted` gets nil at once.
    func submit<Message: Encodable & Sendable>(_ message: Message, kind: OutboxKind, capturedAt: Date,
                                                seq: WritableKeyPath<Message, UInt64> & Sendable, properties: OutboxProperties,
                                                accepted: @escaping @Sendable (Message?) -> Void) {
        guard let outbox else { return accepted(nil) }
        let encoder = self.encoder
        let logger = self.logger
        outbox.submit(kind: kind, capturedAt: capturedAt, properties: properties, body: { number in
            var numbered = message
            numbered[keyPath: seq] = number
            return Self.body(numbered, encoder: encoder)
        }, accepted: { result in
            switch result {
            case .success(let entry):
                var numbered = message
                numbered[keyPath: seq] = entry.seq
                accepted(numbered)
            case .failure(let error):
                logger.error("\(kind == .alert ? "spike alert" : "telemetry message") not queued: \(error)", metadata: ["feature": "outbox"])
                accepted(nil)
            }
        })
    }

    /// Returns when every submitted message was committed and handed on.
    func waitForSubmitted() { outbox?.waitForSubmitted() }

    func report(_ patch: [UInt8]) { client?.report(patch) }

    /// Asks the hub for the full twin again.
    func requestTwin() { client?.requestTwin() }
}

extension SettingKind where Value == String {
    /// A key file (a ``path``) or a key URI (``KeyLocation``), which is kept as given.
    static var keyLocation: Self {
        Self(type: "path or key URI", parse: { text, origin in KeyLocation(text).isFile ? path.parse(text, origin) : .success(text) },
             format: { $0 })
    }
}

extension SettingKind where Value == HTTPProxy {
    /// `http://[user:password@]host:port`; shown without the password.
    static var proxy: Self {
        Self(type: "proxy URL", parse: { text, _ in HTTPProxy.parse(text).mapError { SettingProblem($0.description) } },
             format: { $0.description })
    }
}
