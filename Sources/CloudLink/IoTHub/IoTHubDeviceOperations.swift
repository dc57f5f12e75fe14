import MQTT

/// What the hub asked of, or answered to, the device (A.8–A.11), for the agent to act on.
public enum IoTHubDeviceEvent: Sendable, Hashable {
    /// The full twin (`{"desired":{…},"reported":{…}}`), answered to a GET with 200.
    case twin(document: [UInt8])
    /// A desired-properties patch; `version` is the topic's `$version`.
    case desiredPatch(version: Int, body: [UInt8])
    /// A direct-method call; answer it with ``IoTHubDeviceOperations/respond(to:status:payload:)``.
    case methodCall(IoTHubMethodRequest, payload: [UInt8])
    case cloudToDevice(properties: IoTHubMessageProperties, payload: [UInt8])
    /// A reported-properties patch was accepted (204); `version` is the new reported `$version`.
    case reportedAccepted(token: UInt64, version: Int?)
    /// The hub rejected a reported patch with a status that retrying will not fix (400 …).
    case reportedRejected(token: UInt64, status: IoTHubStatus, body: [UInt8])
    /// The twin service is not there (plain MQTT broker) or not answering; telemetry goes on.
    case twinUnavailable(reason: String)
}

/// The device side of the twin, methods and C2D (A.8–A.13) as a pure state machine: `$rid`
/// correlation with time-outs, retries with full-jitter backoff on 429/5xx and time-outs, and
/// dispatch of inbound topics. The connection loop performs its ``Output``s.
///
/// ## Contract
/// - Time comes in as `now` on the same monotonic base as the MQTT session's.
/// - A full twin GET is sent at every ``connected(now:)`` (so a reconnect re-syncs the twin).
/// - Reported patches are kept until the hub answers 2xx or a non-retriable 4xx; a 429, a 5xx,
///   a time-out or a lost connection sends them again (new `$rid`) after a backoff.
/// - Method responses are sent only while connected; a response after a reconnect is dropped
///   (the hub has already timed the call out).
/// - Unparseable inbound topics are returned as ``Output/ignored(_:)`` so the loop can log them.
public struct IoTHubDeviceOperations: Sendable {
    public enum Output: Sendable, Hashable {
        case publish(topic: String, payload: [UInt8])
        case event(IoTHubDeviceEvent)
        case ignored(String)
    }

    enum Request: Sendable {
        case get
        case reported(token: UInt64)
    }

    struct PendingReport: Sendable {
        var token: UInt64
        var body: [UInt8]
        var notBefore: Duration
        var attempts: Int
    }

    public let deviceID: String
    public let requestTimeout: Duration
    /// Reported patches waiting beyond this are dropped oldest first (and counted).
    public let maximumPendingReports: Int
    public private(set) var droppedReports = 0
    var requests: IoTHubRequestTable<Request>
    var reports: [PendingReport] = []
    var nextToken: UInt64 = 0
    var getDue: Duration?
    var getAttempts = 0
    var isConnected = false
    var twinUnavailableReported = false
    var backoff: ReconnectBackoff
    var random: SplitMix

    public init(deviceID: String, requestTimeout: Duration = .seconds(10),
                backoffBase: Duration = .seconds(1), backoffCap: Duration = .seconds(300),
                maximumPendingReports: Int = 100, seed: UInt64 = 0x5EED) {
        self.deviceID = deviceID
        self.requestTimeout = requestTimeout
        self.maximumPendingReports = maximumPendingReports
        requests = IoTHubRequestTable(timeout: requestTimeout)
        backoff = ReconnectBackoff(base: backoffBase, cap: backoffCap)
        random = SplitMix(state: seed)
    }

    /// MQTT filters to subscribe to after CONNACK (twin responses, desired patches, methods, C2D).
    public var subscriptions: [String] {
        var filters = [IoTHubTopic.twinResponseFilter, IoTHubTopic.twinDesiredPatchFilter, IoTHubTopic.methodRequestFilter]
        if let c2d = try? IoTHubTopic.cloudToDeviceFilter(deviceID: deviceID) { filters.append(c2d) }
        return filters
    }

    /// Reported patches not yet accepted.
    public var pendingReports: Int { reports.count + sentBodies.count }

    var getInFlight = false

    /// The earliest time ``tick(now:)`` has something to do.
    public var nextDeadline: Duration? {
        guard isConnected else { return nil }
        var earliest = getDue
        if !requests.isEmpty, let due = requests.nextDeadline { earliest = min(earliest ?? due, due) }
        for report in reports { earliest = min(earliest ?? report.notBefore, report.notBefore) }
        return earliest
    }

    /// The subscriptions are in place: ask for the full twin and send waiting reported patches.
    public mutating func connected(now: Duration) -> [Output] {
        isConnected = true
        getDue = now
        return tick(now: now)
    }

    /// The broker refused the twin subscriptions: there is no twin service.
    public mutating func subscriptionRefused(reason: String) -> [Output] {
        getDue = nil
        return unavailable(reason)
    }

    /// The connection ended: requests in flight will never be answered; send them again later.
    public mutating func disconnected() {
        isConnected = false
        for entry in requests.expired(now: .seconds(Int64.max / 2)) {
            requeue(entry.context, at: .zero)
        }
        getInFlight = false
    }

    /// Queues a reported-properties patch (a JSON merge patch); returns the token its
    /// ``IoTHubDeviceEvent/reportedAccepted(token:version:)`` will carry.
    public mutating func report(_ patch: [UInt8], now: Duration) -> (token: UInt64, outputs: [Output]) {
        nextToken += 1
        reports.append(PendingReport(token: nextToken, body: patch, notBefore: now, attempts: 0))
        if reports.count > maximumPendingReports {
            reports.removeFirst()
            droppedReports += 1
        }
        return (nextToken, tick(now: now))
    }

    /// Asks for the full twin again (e.g. after applying a patch out of order).
    public mutating func requestTwin(now: Duration) -> [Output] {
        if !getInFlight { getDue = now }
        return tick(now: now)
    }

    /// The answer to a direct method.
    public func respond(to request: IoTHubMethodRequest, status: Int, payload: [UInt8]) -> [Output] {
        guard isConnected, let topic = try? IoTHubTopic.methodResponse(status: status, requestID: request.requestID) else { return [] }
        return [.publish(topic: topic, payload: payload)]
    }

    /// Sends what is due and handles time-outs.
    public mutating func tick(now: Duration) -> [Output] {
        guard isConnected else { return [] }
        var outputs: [Output] = []
        for entry in requests.expired(now: now) {
            if case .get = entry.context {
                getInFlight = false
                getAttempts += 1
                outputs += unavailable("no answer to the twin GET within \(requestTimeout)")
            }
            requeue(entry.context, at: now + backoff.nextDelay(using: &random))
        }
        if let due = getDue, due <= now, !getInFlight {
            let rid = requests.makeRequestID()
            if let topic = try? IoTHubTopic.twinGet(requestID: rid), (try? requests.register(rid, context: .get, now: now)) != nil {
                getDue = nil
                getInFlight = true
                outputs.append(.publish(topic: topic, payload: []))
            }
        }
        var waiting: [PendingReport] = []
        for report in reports {
            guard report.notBefore <= now else { waiting.append(report); continue }
            let rid = requests.makeRequestID()
            if let topic = try? IoTHubTopic.twinReportedPatch(requestID: rid),
               (try? requests.register(rid, context: .reported(token: report.token), now: now)) != nil {
                outputs.append(.publish(topic: topic, payload: report.body))
                sentBodies[report.token] = report
            } else {
                waiting.append(report)
            }
        }
        reports = waiting
        return outputs
    }

    var sentBodies: [UInt64: PendingReport] = [:]

    mutating func requeue(_ request: Request, at time: Duration) {
        switch request {
        case .get:
            getInFlight = false
            getDue = time
        case .reported(let token):
            if var report = sentBodies.removeValue(forKey: token) {
                report.notBefore = time
                report.attempts += 1
                reports.append(report)
                reports.sort { $0.token < $1.token }
            }
        }
    }

    mutating func unavailable(_ reason: String) -> [Output] {
        guard !twinUnavailableReported else { return [] }
        twinUnavailableReported = true
        return [.event(.twinUnavailable(reason: reason))]
    }

    /// An inbound PUBLISH.
    public mutating func received(topic: String, payload: [UInt8], now: Duration) -> [Output] {
        let inbound: IoTHubInboundTopic
        do {
            inbound = try IoTHubInboundTopic(topic: topic, deviceID: deviceID)
        } catch {
            return [.ignored("\(error)")]
        }
        switch inbound {
        case .cloudToDevice(let properties):
            return [.event(.cloudToDevice(properties: properties, payload: payload))]
        case .desiredPatch(let patch):
            return [.event(.desiredPatch(version: patch.version, body: payload))]
        case .methodRequest(let request):
            return [.event(.methodCall(request, payload: payload))]
        case .twinResponse(let response):
            guard let entry = requests.resolve(response.requestID) else {
                return [.ignored("a twin response for an unknown or expired $rid \(response.requestID)")]
            }
            let status = response.status
            if status.shouldBackOff {
                requeue(entry.context, at: now + backoff.nextDelay(using: &random))
                return []
            }
            switch entry.context {
            case .get:
                getInFlight = false
                if status.classification == .success {
                    backoff.reset()
                    getAttempts = 0
                    twinUnavailableReported = false
                    return [.event(.twin(document: payload))]
                }
                return unavailable("the twin GET was answered \(status)")
            case .reported(let token):
                sentBodies[token] = nil
                if status.classification == .success {
                    backoff.reset()
                    return [.event(.reportedAccepted(token: token, version: response.version))]
                }
                return [.event(.reportedRejected(token: token, status: status, body: payload))]
            }
        }
    }
}

/// A small seeded generator for backoff jitter, so the state machine stays deterministic in tests.
struct SplitMix: RandomNumberGenerator, Sendable {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
