#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Identity
import IoTHub
import JSON
import Logging
import NIOCore
import Synchronization
import SystemCalls

/// What a direct-method call returned (IoT Hub's direct methods): the device's status and body, or the
/// hub's own `404` (device not online / not subscribed) or `504` (no answer in time).
public struct MethodResult: Sendable, Hashable {
    public var status: Int
    /// The response body as sent (JSON by convention, may be empty).
    public var payload: [UInt8]

    public init(status: Int, payload: [UInt8]) {
        self.status = status
        self.payload = payload
    }

    /// The body parsed as JSON; `nil` when empty or not JSON.
    public var json: JSONValue? { payload.isEmpty ? nil : try? JSONValue.parse(payload) }

    static func hubError(_ status: Int, _ message: String) -> MethodResult {
        MethodResult(status: status, payload: JSONValue.object(["message": .string(message)]).encoded())
    }
}

/// How the hub reaches one live connection from any thread (its handler runs on an event loop).
struct ConnectionRef: Sendable {
    var id: UInt64
    var peer: String
    var eventLoop: any EventLoop
    var deliver: @Sendable (HubSession.Event) -> Void
    var close: @Sendable (String) -> Void
}

/// The state every connection and the admin side share: registry, CAs, twins, live
/// connections, pending method calls. Thread-safe (one mutex; SQLite writes go through
/// ``HubStore``); connections call it from their event loops.
final class HubCore: Sendable {
    struct PendingMethod {
        var deviceID: String
        var continuation: CheckedContinuation<MethodResult, Never>
        var timeout: Scheduled<Void>?
    }

    struct State {
        var devices: [String: DeviceAuthentication] = [:]
        var authorities: [RegisteredCA] = []
        var twins: [String: TwinDocument] = [:]
        var connections: [String: ConnectionRef] = [:]
        /// When each device's live connection was made, and when it last sent telemetry (this run).
        var connectedAt: [String: Date] = [:]
        var lastMessageAt: [String: Date] = [:]
        /// The IoT Plug and Play model id each device announced at its last connect (`model-id=`
        /// in the CONNECT user name), as IoT Hub shows it on the twin's `modelId`.
        var modelIDs: [String: String] = [:]
        /// The SHA-256 thumbprint of the leaf certificate each device last connected with (this run):
        /// what shows that a device rotated its certificate.
        var thumbprints: [String: String] = [:]
        /// Each device's cloud-to-device messages, queued and locked.
        var cloudToDevice: [String: CloudToDeviceQueue] = [:]
        /// The connection (id) of each device that subscribed to its C2D topic.
        var cloudToDeviceReady: [String: UInt64] = [:]
        /// Per device, the timer that redelivers when the earliest lock runs out.
        var lockTimers: [String: Scheduled<Void>] = [:]
        var pendingMethods: [String: PendingMethod] = [:]
        var nextID: UInt64 = 0
    }

    let store: HubStore
    let telemetry: TelemetryLog
    let logger: Logger
    let now: @Sendable () -> Date
    let caBundlePath: String
    let sessionConfiguration: HubSession.Configuration
    let limits: ConnectionLimits
    /// The hub name device user names must carry (nil: any).
    let hubName: String?
    let cloudToDeviceLimits: CloudToDeviceLimits
    let state = Mutex(State())
    /// Open device connections, and those not yet authenticated.
    private let connectionCounts = Mutex((total: 0, unauthenticated: 0))
    /// Twin GETs, hub-wide, at IoT Hub's rate; beyond it a GET is answered 429.
    private let twinReads: Mutex<TokenBucket>
    /// The emulated device-to-cloud throttle and daily quota (nil: none).
    private let quota: Mutex<HubQuota?>
    /// A monotonic clock for the throttles.
    let uptime: @Sendable () -> Duration

    init(stateDirectory: String, logger: Logger, now: @escaping @Sendable () -> Date,
         sessionConfiguration: HubSession.Configuration, limits: ConnectionLimits = ConnectionLimits(),
         twinReadsPerSecond: Double = Double(IoTHubLimits.twinReadsPerSecond), telemetryFileMaximumBytes: Int = 64 << 20, quota: HubQuota? = nil,
         cloudToDeviceLimits: CloudToDeviceLimits = CloudToDeviceLimits(), hubName: String? = nil,
         uptime: @escaping @Sendable () -> Duration = { .nanoseconds(Int64(clamping: NIODeadline.now().uptimeNanoseconds)) })
        throws(HubError) {
        twinReads = Mutex(TokenBucket(rate: twinReadsPerSecond))
        self.quota = Mutex(quota)
        self.limits = limits
        self.cloudToDeviceLimits = cloudToDeviceLimits
        self.hubName = hubName
        self.uptime = uptime
        store = try HubStore(path: stateDirectory + "/hub.sqlite")
        telemetry = try TelemetryLog(directory: stateDirectory + "/telemetry", maximumFileBytes: telemetryFileMaximumBytes)
        caBundlePath = stateDirectory + "/registered-cas.pem"
        self.logger = logger
        self.now = now
        self.sessionConfiguration = sessionConfiguration
        let devices = try store.devices()
        let authorities = try store.certificateAuthorities()
        let twins = try store.twins()
        state.withLock { state in
            for device in devices { state.devices[device.deviceID] = device.authentication }
            state.authorities = authorities
            state.twins = twins
        }
        try writeCABundle(authorities)
    }

    func nextID() -> UInt64 { state.withLock { $0.nextID += 1; return $0.nextID } }

    // MARK: Registry

    func register(_ device: DeviceRecord) throws(HubError) {
        do { _ = try IoTHubTopic.cloudToDeviceFilter(deviceID: device.deviceID) } catch {
            throw .invalidDeviceID(device.deviceID, reason: "\(error)")
        }
        try store.save(device)
        let twin: TwinDocument? = state.withLock { state in
            state.devices[device.deviceID] = device.authentication
            if state.twins[device.deviceID] != nil { return nil }
            state.twins[device.deviceID] = TwinDocument()
            return state.twins[device.deviceID]
        }
        if let twin { try store.save(twin: twin, deviceID: device.deviceID) }
        logger.notice("registered device \(device.deviceID) (\(device.authentication.typeName))",
                      metadata: ["device": "\(device.deviceID)"])
    }

    func devices() -> [DeviceRecord] {
        state.withLock { state in
            state.devices.map { DeviceRecord(deviceID: $0.key, authentication: $0.value) }
        }.sorted { $0.deviceID < $1.deviceID }
    }

    func isConnected(_ deviceID: String) -> Bool { state.withLock { $0.connections[deviceID] != nil } }

    /// Registers every CA certificate in `pem` (root or a chain ending in one).
    func registerCertificateAuthorities(pem: [UInt8], source: String) throws(HubError) -> [RegisteredCA] {
        let certificates: [X509Certificate]
        do { certificates = try X509Certificate.parseChain(pem: pem, source: source) } catch {
            throw .certificateAuthority("\(error)")
        }
        var added: [RegisteredCA] = []
        for certificate in certificates {
            guard certificate.isCertificateAuthority else {
                throw .certificateAuthority("\(certificate.subject) in \(source) is not a CA certificate "
                    + "(basicConstraints CA:TRUE); register the root CA that issued the device certificates")
            }
            let one: [UInt8]
            do { one = try certificate.pem() } catch { throw .certificateAuthority("\(error)") }
            let authority = RegisteredCA(subject: certificate.subject, sha256Thumbprint: certificate.sha256Thumbprint,
                                         pem: String(decoding: one, as: UTF8.self))
            try store.save(authority)
            added.append(authority)
        }
        let all: [RegisteredCA] = state.withLock { state in
            for authority in added where !state.authorities.contains(where: { $0.sha256Thumbprint == authority.sha256Thumbprint }) {
                state.authorities.append(authority)
            }
            return state.authorities
        }
        try writeCABundle(all)
        for authority in added { logger.notice("registered CA \(authority.subject) (SHA-256 \(authority.sha256Thumbprint))") }
        return added
    }

    func certificateAuthorities() -> [RegisteredCA] { state.withLock { $0.authorities } }

    private func writeCABundle(_ authorities: [RegisteredCA]) throws(HubError) {
        do {
            if authorities.isEmpty {
                try POSIX.unlink(caBundlePath, missingIsFine: true)
            } else {
                try POSIX.writeFileAtomically(caBundlePath, Array(authorities.map(\.pem).joined().utf8), mode: 0o644)
            }
        } catch {
            throw .storage(operation: "writing the CA bundle", path: caBundlePath, reason: error.description)
        }
    }

    // MARK: Connections

    struct ConnectionRefused: Error, CustomStringConvertible {
        var description: String
    }

    /// Counts a new connection (unauthenticated until ``connectionAuthenticated()``), or refuses
    /// it over a cap.
    func admitConnection(peer: String) throws {
        let refusal: String? = connectionCounts.withLock { counts in
            if counts.total >= limits.maximumConnections { return "\(counts.total) connections are open (cap \(limits.maximumConnections))" }
            if counts.unauthenticated >= limits.maximumUnauthenticatedConnections {
                return "\(counts.unauthenticated) connections have not authenticated yet (cap \(limits.maximumUnauthenticatedConnections))"
            }
            counts.total += 1
            counts.unauthenticated += 1
            return nil
        }
        if let refusal {
            logger.warning("LocalHub refused a connection from \(peer): \(refusal)", metadata: ["peer": "\(peer)"])
            throw ConnectionRefused(description: refusal)
        }
    }

    func connectionAuthenticated() { connectionCounts.withLock { $0.unauthenticated -= 1 } }

    func connectionClosed(authenticated: Bool) {
        connectionCounts.withLock { counts in
            counts.total -= 1
            if !authenticated { counts.unauthenticated -= 1 }
        }
    }

    /// Open connections, and those not yet authenticated (for tests and status).
    var openConnections: (total: Int, unauthenticated: Int) { connectionCounts.withLock { $0 } }

    func authenticate(clientID: String, username: String?, chain: [X509Certificate]) -> HubSession.AuthenticationDecision {
        let devices = state.withLock { $0.devices }
        let bundle = POSIX.exists(caBundlePath) ? caBundlePath : nil
        let decision = DeviceAuthenticator(devices: devices, caBundle: bundle, hubName: hubName)
            .decide(clientID: clientID, username: username, chain: chain, now: now())
        if case .accepted(let deviceID) = decision {
            let model = Self.modelID(inUsername: username)
            let thumbprint = chain.first?.sha256Thumbprint
            state.withLock {
                $0.modelIDs[deviceID] = model
                $0.thumbprints[deviceID] = thumbprint
            }
        }
        return decision
    }

    /// `model-id=…` from `{host}/{device}/?api-version=…&model-id=dtmi:…` (percent-decoded), if any.
    static func modelID(inUsername username: String?) -> String? {
        guard let username, let query = username.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for pair in query.split(separator: "&") where pair.hasPrefix("model-id=") {
            let value = pair.dropFirst("model-id=".count)
            return (try? IoTHubPercentEncoding.decode(value)) ?? String(value)
        }
        return nil
    }

    /// The model id the device announced at its last connect.
    func modelID(_ deviceID: String) -> String? { state.withLock { $0.modelIDs[deviceID] } }

    /// The SHA-256 thumbprint of the certificate the device last connected with (this run).
    func certificateThumbprint(_ deviceID: String) -> String? { state.withLock { $0.thumbprints[deviceID] } }

    /// Records `connection` as the device's live one; an older connection of the same device is
    /// closed, as IoT Hub does (A.6, 400027).
    func attach(_ deviceID: String, _ connection: ConnectionRef) {
        let at = now()
        let previous = state.withLock { state in
            defer {
                state.connections[deviceID] = connection
                state.connectedAt[deviceID] = at
            }
            return state.connections[deviceID]
        }
        if let previous {
            previous.close("a new connection for \(deviceID) from \(connection.peer) replaces this one "
                + "(400027 ConnectionForcefullyClosedOnNewConnection)")
        }
    }

    /// The connection `id` of the device is gone: C2D messages locked for it are abandoned (queued
    /// again, or dead-lettered) and go to the device's newer connection, if it has one.
    func detach(_ deviceID: String, id: UInt64) {
        let at = now()
        let outcomes = state.withLock { state in
            if state.connections[deviceID]?.id == id { state.connections[deviceID] = nil }
            if state.cloudToDeviceReady[deviceID] == id { state.cloudToDeviceReady[deviceID] = nil }
            return state.cloudToDevice[deviceID]?.abandon(lockedBy: id, now: at) ?? []
        }
        log(outcomes, deviceID: deviceID, why: "its connection closed")
        if !outcomes.isEmpty { pumpCloudToDevice(deviceID) }
    }

    func connection(_ deviceID: String) -> ConnectionRef? { state.withLock { $0.connections[deviceID] } }

    /// Logs one telemetry message and notes when the device was last heard from.
    func store(_ message: HubSession.TelemetryMessage) {
        let at = now()
        state.withLock { $0.lastMessageAt[message.deviceID] = at }
        telemetry.append(TelemetryRecord(message, arrivedAt: at))
    }

    /// Every registered device's liveness now: connected, and for how long it has been silent
    /// (since its last message, or since it connected if it has sent none).
    func liveness() -> [FleetWatch.Device] {
        let at = now()
        let (connections, since, last) = state.withLock { ($0.connections, $0.connectedAt, $0.lastMessageAt) }
        return devices().map { record in
            let id = record.deviceID
            let connected = connections[id] != nil
            let heard = [since[id], last[id]].compactMap { $0 }.max()
            let silent = connected ? heard.map { Duration.milliseconds(Int64(at.timeIntervalSince($0) * 1000)) } : nil
            let reported = (try? twin(id))?.reported ?? [:]
            return FleetWatch.Device(deviceID: id, connected: connected, silentFor: silent,
                                     reportedSendPeriod: FleetWatch.reportedPeriod(reported))
        }
    }

    // MARK: Twin

    func twin(_ deviceID: String) throws(HubError) -> TwinDocument {
        guard let twin = state.withLock({ $0.twins[deviceID] }) else { throw .unknownDevice(deviceID) }
        return twin
    }

    /// The answer to a device's twin GET: status and body; `429` beyond IoT Hub's twin-read rate.
    func twinGet(_ deviceID: String) -> (status: Int, body: [UInt8]) {
        guard twinReads.withLock({ $0.take(now: uptime()) }) else {
            let rate = twinReads.withLock { $0.rate }
            return (429, JSONValue.object(["message": .string("twin reads are throttled at \(Int(rate))/s (429001 ThrottlingException)")]).encoded())
        }
        guard let twin = try? twin(deviceID) else {
            return (404, JSONValue.object(["message": .string("no twin for \(deviceID)")]).encoded())
        }
        return (200, twin.deviceView.encoded())
    }

    /// A device's reported patch: `204` with the new `$version`, or `400` with the reason logged.
    func patchReported(_ deviceID: String, body: [UInt8]) -> (status: Int, version: Int?) {
        let patch: JSONValue
        do { patch = try JSONValue.parse(body) } catch {
            logger.warning("reported patch from \(deviceID) refused with 400: \(error)", metadata: ["device": "\(deviceID)"])
            return (400, nil)
        }
        let outcome = state.withLock { (state: inout State) -> Result<(Int, TwinDocument), TwinPatchError>? in
            guard var twin = state.twins[deviceID] else { return nil }
            do {
                let version = try twin.patchReported(patch)
                state.twins[deviceID] = twin
                return .success((version, twin))
            } catch {
                return .failure(error as? TwinPatchError ?? TwinPatchError(section: "twin", reason: "\(error)"))
            }
        }
        switch outcome {
        case .none:
            return (404, nil)
        case .failure(let error):
            logger.warning("reported patch from \(deviceID) refused with 400: \(error)", metadata: ["device": "\(deviceID)"])
            return (400, nil)
        case .success(let (version, twin)):
            do { try store.save(twin: twin, deviceID: deviceID) } catch {
                logger.error("\(error)")
                return (500, nil)
            }
            logger.info("reported properties of \(deviceID) now at $version \(version)", metadata: ["device": "\(deviceID)"])
            return (204, version)
        }
    }

    /// Merges a desired patch, persists it and pushes it to the device when connected.
    func setDesired(_ deviceID: String, patch: JSONValue) throws(HubError) -> Int {
        let outcome = state.withLock { (state: inout State) -> Result<(Int, JSONValue, TwinDocument), TwinPatchError>? in
            guard var twin = state.twins[deviceID] else { return nil }
            do {
                let (version, notification) = try twin.patchDesired(patch)
                state.twins[deviceID] = twin
                return .success((version, notification, twin))
            } catch {
                return .failure(error as? TwinPatchError ?? TwinPatchError(section: "twin", reason: "\(error)"))
            }
        }
        switch outcome {
        case .none:
            throw .unknownDevice(deviceID)
        case .failure(let error):
            throw .twinPatch(error)
        case .success(let (version, notification, twin)):
            try store.save(twin: twin, deviceID: deviceID)
            let connection = connection(deviceID)
            let how = connection == nil ? " (device offline: it reads them with its next twin GET)" : ", pushed"
            logger.notice("desired properties of \(deviceID) now at $version \(version)\(how)",
                          metadata: ["device": "\(deviceID)"])
            connection?.deliver(.desiredPatch(version: version, body: notification.encoded()))
            return version
        }
    }

    // MARK: Throttles

    /// Whether a device-to-cloud message of `bytes` passes the emulated throttle and quota.
    func admitTelemetry(bytes: Int) -> HubQuota.Verdict {
        let time = uptime()
        let day = Int((now().timeIntervalSince1970 / 86_400).rounded(.down))
        return quota.withLock { quota in quota?.admit(bytes: bytes, now: time, day: day) ?? .accepted }
    }

    var quotaUsed: (used: Int, limit: Int)? { quota.withLock { quota in quota.map { ($0.used, $0.dailyLimit) } } }

    // MARK: Methods and C2D

    func invokeMethod(_ deviceID: String, name: String, payload: [UInt8], timeout: Duration) async -> MethodResult {
        guard state.withLock({ $0.devices[deviceID] }) != nil else {
            return .hubError(404, "device \(deviceID) is not registered (404001 DeviceNotFound)")
        }
        guard let connection = connection(deviceID) else {
            return .hubError(404, "device \(deviceID) is not online (404103 DeviceNotOnline)")
        }
        let requestID = String(nextID(), radix: 16)
        logger.info("invoking \(name) on \(deviceID) ($rid \(requestID), time-out \(timeout))", metadata: ["device": "\(deviceID)"])
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<MethodResult, Never>) in
            state.withLock { $0.pendingMethods[requestID] = PendingMethod(deviceID: deviceID, continuation: continuation) }
            let scheduled = connection.eventLoop.scheduleTask(in: .nanoseconds(timeout.nanoseconds)) { [self] in
                resolveMethod(requestID, from: nil, .hubError(504, "\(deviceID) did not answer \(name) within \(timeout) "
                    + "(504101 GatewayTimeout)"))
            }
            let stillPending = state.withLock { state in
                guard state.pendingMethods[requestID] != nil else { return false }
                state.pendingMethods[requestID]?.timeout = scheduled
                return true
            }
            if !stillPending { scheduled.cancel() }
            connection.deliver(.invokeMethod(name: name, requestID: requestID, payload: payload))
        }
        let level: Logger.Level = result.status < 300 ? .info : .warning
        logger.log(level: level, "method \(name) on \(deviceID) answered \(result.status)", metadata: ["device": "\(deviceID)"])
        return result
    }

    /// Completes a pending call; `from` is the answering device (a device cannot answer another's
    /// call), `nil` for the hub's own answers (time-out, undeliverable).
    func resolveMethod(_ requestID: String, from deviceID: String?, _ result: MethodResult) {
        let pending: PendingMethod? = state.withLock { state in
            guard let pending = state.pendingMethods[requestID] else { return nil }
            if let deviceID, pending.deviceID != deviceID { return nil }
            state.pendingMethods[requestID] = nil
            return pending
        }
        guard let pending else {
            if let deviceID {
                logger.notice("method response from \(deviceID) for unknown or expired $rid \(requestID) ignored")
            }
            return
        }
        pending.timeout?.cancel()
        pending.continuation.resume(returning: result)
    }

}

extension Duration {
    /// Whole nanoseconds (saturating), for NIO's `TimeAmount`.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? Int64.min : Int64.max }
        return product.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}
