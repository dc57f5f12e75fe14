/// One DPS registration as a pure state machine: events in (the MQTT connection is up, the
/// SUBACK, a response, a tick, the connection lost), actions out (subscribe, publish, schedule a
/// tick, assigned, failed). Time comes in with each event; nothing here waits.
///
/// ## The exchange
/// connected → SUBSCRIBE `$dps/registrations/res/#` → PUBLISH register (`$rid` 1) → `202`
/// (`assigning`, `operationId`): wait `retry-after` seconds (absent: ``Limits/defaultRetryAfter``),
/// PUBLISH the status poll with a fresh `$rid` → … → `200`:
/// - `assigned` with `assignedHub` and `deviceId`: ``Action/assigned(_:)``;
/// - `failed` / `disabled`: ``Action/failed(_:)`` with ``ProvisioningError/refused(registrationID:httpStatus:errorCode:message:)``.
/// A `429` or `5xx` is retried (the same request again, after `retry-after` or a doubling
/// backoff) up to ``Limits/maximumRetries`` times; any other status is a final refusal.
///
/// ## Contract
/// - Exactly one ``Action/assigned(_:)`` or ``Action/failed(_:)`` ends a run; later events give
///   no actions.
/// - Every request waits at most ``Limits/responseTimeout`` for its answer; at most
///   ``Limits/maximumPolls`` polls are sent. A response for another `$rid` is ignored.
/// - ``nextDeadline`` is when the next ``Event/tick`` is due (also given as
///   ``Action/scheduleTick(at:)``).
public struct ProvisioningMachine: Sendable {
    public struct Limits: Sendable, Hashable {
        /// How long a request (SUBACK, register, poll) may wait for its answer.
        public var responseTimeout: Duration = .seconds(30)
        /// Status polls at most while DPS answers 202.
        public var maximumPolls: Int = 60
        /// 429/5xx answers retried at most in one run.
        public var maximumRetries: Int = 5
        /// The wait after a 202 without `retry-after` (the contract: 1 s).
        public var defaultRetryAfter: Duration = .seconds(1)
        /// The first wait after a 429/5xx without `retry-after`; doubles per retry up to the cap.
        public var retryBackoffBase: Duration = .seconds(2)
        public var retryBackoffCap: Duration = .seconds(60)
        /// A `retry-after` longer than this is cut to it (a bound on what the service can make us wait).
        public var maximumRetryAfter: Duration = .seconds(300)

        public init() {}
    }

    public enum Event: Sendable, Hashable {
        /// CONNACK accepted.
        case connected
        /// The SUBACK for the response filter.
        case subscribed(granted: Bool)
        /// A message on the response subscription.
        case message(topic: String, payload: [UInt8])
        /// A scheduled time was reached (or any time: the machine checks what is due).
        case tick
        /// The connection failed or ended; the words say why.
        case connectionLost(String)
    }

    public enum Action: Sendable, Hashable {
        case subscribe(filter: String)
        /// PUBLISH at QoS 1.
        case publish(topic: String, payload: [UInt8])
        case scheduleTick(at: Duration)
        case assigned(ProvisioningAssignment)
        case failed(ProvisioningError)
    }

    enum Request: Sendable, Hashable {
        case register
        case poll(operationID: String)

        var name: String {
            switch self {
            case .register: "register request"
            case .poll: "operation status poll"
            }
        }
    }

    enum Phase: Sendable, Hashable {
        case idle
        case subscribing(deadline: Duration)
        case awaiting(Request, rid: Int, deadline: Duration)
        case waiting(Request, until: Duration)
        case finished
    }

    public let registration: DPSRegistration
    public let limits: Limits
    private(set) var phase: Phase = .idle
    private var nextRID = 1
    /// Status polls sent so far.
    public private(set) var polls = 0
    /// 429/5xx answers retried so far.
    public private(set) var retries = 0

    public init(registration: DPSRegistration, limits: Limits = Limits()) {
        self.registration = registration
        self.limits = limits
    }

    /// Whether an assignment or a failure ended the run.
    public var isFinished: Bool { phase == .finished }

    public var nextDeadline: Duration? {
        switch phase {
        case .idle, .finished: nil
        case .subscribing(let deadline), .awaiting(_, _, let deadline): deadline
        case .waiting(_, let until): until
        }
    }

    public mutating func handle(_ event: Event, at now: Duration) -> [Action] {
        guard phase != .finished else { return [] }
        switch event {
        case .connected:
            guard phase == .idle else { return [] }
            phase = .subscribing(deadline: now + limits.responseTimeout)
            return [.subscribe(filter: DPSRegistration.responseFilter), .scheduleTick(at: now + limits.responseTimeout)]
        case .subscribed(let granted):
            guard case .subscribing = phase else { return [] }
            guard granted else { return finish(.subscriptionRefused) }
            return send(.register, at: now)
        case let .message(topic, payload):
            return receive(topic: topic, payload: payload, at: now)
        case .tick:
            return tick(at: now)
        case .connectionLost(let reason):
            return finish(.connection(reason))
        }
    }

    private mutating func finish(_ error: ProvisioningError) -> [Action] {
        phase = .finished
        return [.failed(error)]
    }

    private mutating func send(_ request: Request, at now: Duration) -> [Action] {
        let rid = nextRID
        nextRID += 1
        let deadline = now + limits.responseTimeout
        phase = .awaiting(request, rid: rid, deadline: deadline)
        switch request {
        case .register:
            return [.publish(topic: DPSRegistration.registerTopic(rid: rid), payload: registration.registerBody),
                    .scheduleTick(at: deadline)]
        case .poll(let operationID):
            polls += 1
            return [.publish(topic: DPSRegistration.pollTopic(rid: rid, operationID: operationID), payload: []),
                    .scheduleTick(at: deadline)]
        }
    }

    private mutating func tick(at now: Duration) -> [Action] {
        switch phase {
        case .subscribing(let deadline) where now >= deadline:
            return finish(.noResponse(what: "subscription", after: limits.responseTimeout))
        case .awaiting(let request, _, let deadline) where now >= deadline:
            return finish(.noResponse(what: request.name, after: limits.responseTimeout))
        case .waiting(let request, let until) where now >= until:
            if case .poll = request, polls >= limits.maximumPolls { return finish(.tooManyPolls(polls)) }
            return send(request, at: now)
        default:
            return []
        }
    }

    private mutating func wait(then request: Request, for delay: Duration, at now: Duration) -> [Action] {
        let until = now + min(delay, limits.maximumRetryAfter)
        phase = .waiting(request, until: until)
        return [.scheduleTick(at: until)]
    }

    private mutating func receive(topic: String, payload: [UInt8], at now: Duration) -> [Action] {
        guard case let .awaiting(request, rid, _) = phase else { return [] }
        let response: DPSResponseTopic
        do { response = try DPSResponseTopic(parsing: topic) } catch { return finish(error) }
        guard response.rid == String(rid) else { return [] }
        let body: DPSResponseBody
        do { body = try DPSResponseBody(parsing: payload) } catch { return finish(error) }
        let retryAfter = response.retryAfter.map { Duration.seconds($0) }
        switch response.status {
        case 202:
            return assigning(body, after: retryAfter, request: request, at: now)
        case 200:
            return answered(body, after: retryAfter, request: request, at: now)
        case 429, 500...599:
            let message = body.message ?? "no message"
            guard retries < limits.maximumRetries else {
                return finish(.tooManyRetries(retries, lastStatus: response.status, message: message))
            }
            let backoff = Self.doubling(limits.retryBackoffBase, times: retries, cap: limits.retryBackoffCap)
            retries += 1
            return wait(then: request, for: retryAfter ?? backoff, at: now)
        default:
            return finish(.refused(registrationID: registration.registrationID, httpStatus: response.status,
                                   errorCode: body.errorCode ?? body.registrationState?.errorCode,
                                   message: body.message ?? body.registrationState?.errorMessage ?? "no message"))
        }
    }

    /// 202, or a 200 still `assigning`: poll the operation after `retry-after`.
    private mutating func assigning(_ body: DPSResponseBody, after retryAfter: Duration?, request: Request,
                                    at now: Duration) -> [Action] {
        let operationID: String
        if let id = body.operationID, !id.isEmpty {
            operationID = id
        } else if case .poll(let id) = request {
            operationID = id
        } else {
            return finish(.malformedResponse("a 202 answer without an operationId"))
        }
        if polls >= limits.maximumPolls { return finish(.tooManyPolls(polls)) }
        return wait(then: .poll(operationID: operationID), for: retryAfter ?? limits.defaultRetryAfter, at: now)
    }

    private mutating func answered(_ body: DPSResponseBody, after retryAfter: Duration?, request: Request,
                                   at now: Duration) -> [Action] {
        let state = body.registrationState
        let status = (body.status ?? state?.status ?? "").lowercased()
        switch status {
        case "assigned":
            guard let state else { return finish(.incompleteAssignment("a registrationState")) }
            guard let hub = state.assignedHub, !hub.isEmpty else { return finish(.incompleteAssignment("an assignedHub")) }
            guard let device = state.deviceID, !device.isEmpty else { return finish(.incompleteAssignment("a deviceId")) }
            phase = .finished
            return [.assigned(ProvisioningAssignment(
                registrationID: state.registrationID ?? registration.registrationID, assignedHub: hub, deviceID: device,
                substatus: state.substatus, issuedCertificateChain: state.issuedCertificateChain,
                operationID: body.operationID))]
        case "assigning", "unassigned":
            return assigning(body, after: retryAfter, request: request, at: now)
        case "disabled":
            return finish(.refused(registrationID: registration.registrationID, httpStatus: 403,
                                   errorCode: state?.errorCode, message: state?.errorMessage ?? "the enrollment is disabled"))
        default:
            return finish(.refused(registrationID: registration.registrationID, httpStatus: 200,
                                   errorCode: state?.errorCode ?? body.errorCode,
                                   message: state?.errorMessage ?? body.message ?? "status '\(status)'"))
        }
    }

    /// `base · 2ⁿ`, at most `cap`.
    static func doubling(_ base: Duration, times n: Int, cap: Duration) -> Duration {
        var delay = base
        for _ in 0..<min(n, 32) where delay < cap { delay *= 2 }
        return min(delay, cap)
    }
}

/// What DPS assigned: where the device goes and as whom.
public struct ProvisioningAssignment: Sendable, Hashable {
    public var registrationID: String
    /// The IoT hub's host name.
    public var assignedHub: String
    public var deviceID: String
    public var substatus: String?
    /// Base64 DER certificates issued for the CSR (empty without one).
    public var issuedCertificateChain: [String]
    public var operationID: String?

    public init(registrationID: String, assignedHub: String, deviceID: String, substatus: String? = nil,
                issuedCertificateChain: [String] = [], operationID: String? = nil) {
        self.registrationID = registrationID
        self.assignedHub = assignedHub
        self.deviceID = deviceID
        self.substatus = substatus
        self.issuedCertificateChain = issuedCertificateChain
        self.operationID = operationID
    }
}
