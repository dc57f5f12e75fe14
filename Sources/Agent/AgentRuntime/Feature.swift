import IoTHub
import JSON
import Logging
import Synchronization
import SystemCalls

/// One part of the agent with its own lifecycle: the hub link, telemetry, alerts and the alarm
/// line, twin settings, direct methods, status, diagnostics. Each is wired once in ``Agent`` and
/// started and stopped by ``FeatureRunner``; the agent stays thread-based (see
/// docs/architecture.md).
public protocol Feature: AnyObject, Sendable {
    /// What the feature is configured with: its configuration section, or what it takes of the agent's.
    associatedtype Configuration: Sendable
    /// Short and stable; also the `feature` metadata of its log lines.
    var name: String { get }
    var configuration: Configuration { get }
    /// Begins the feature's background work (a timer, a connection) and returns.
    func start() throws
    /// Ends what ``start()`` began before it returns. Called once, in reverse start order.
    func stop()
    /// The direct methods this feature answers.
    var methods: [DirectMethod] { get }
    /// An event from the hub link (twin document, desired patch, method call, cloud-to-device
    /// message), on the link's thread: keep it quick.
    func receive(_ event: IoTHubDeviceEvent)
}

extension Feature {
    public func start() throws {}
    public func stop() {}
    public var methods: [DirectMethod] { [] }
    public func receive(_ event: IoTHubDeviceEvent) {}
}

/// A feature that works on the caller's thread until its work is done or it is asked to stop
/// (the sampler, on the board's clock).
public protocol ForegroundFeature: Feature {
    func run(shouldStop: () -> Bool)
}

/// A direct method: its name and its handler (request payload in, status and JSON body out).
public struct DirectMethod: Sendable {
    public var name: String
    public var handle: @Sendable ([UInt8]) -> MethodResult

    public init(name: String, handle: @escaping @Sendable ([UInt8]) -> MethodResult) {
        self.name = name
        self.handle = handle
    }
}

/// A direct method's answer: an HTTP-like status (200, 400, 404, 409, 429, 500, 503) and a JSON body.
public struct MethodResult: Sendable, Equatable {
    public var status: Int
    /// JSON.
    public var body: [UInt8]

    public init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }

    public static func ok(_ body: JSONValue) -> MethodResult { MethodResult(status: 200, body: body.encoded()) }

    /// `{"error": message}`.
    public static func error(_ status: Int, _ message: String) -> MethodResult {
        MethodResult(status: status, body: JSONValue.object(["error": .string(message)]).encoded())
    }
}

/// Starts the features in order, runs the foreground one on the caller's thread, then stops
/// every started feature in reverse order; hands each hub event to every feature.
final class FeatureRunner: Sendable {
    private let features = Mutex<[any Feature]>([])

    /// Once, after every feature exists (the link needs the runner to deliver its events).
    func register(_ all: [any Feature]) {
        features.withLock { $0 = all }
    }

    func deliver(_ event: IoTHubDeviceEvent) {
        for feature in features.withLock({ $0 }) { feature.receive(event) }
    }

    /// - Throws: what a feature's start threw (the ones started before it are stopped first).
    func run(_ foreground: some ForegroundFeature, shouldStop: () -> Bool) throws {
        var started: [any Feature] = []
        defer { for feature in started.reversed() { feature.stop() } }
        for feature in features.withLock({ $0 }) {
            try feature.start()
            started.append(feature)
        }
        foreground.run(shouldStop: shouldStop)
    }
}

/// Direct methods: a table of named handlers, each contributed by its feature. An unknown name
/// is answered 404 with the names this device offers; calls from the hub run one at a time on
/// their own thread, so a slow doctor run never stalls the link, and at most
/// ``maximumWaiting`` wait (a busy device answers 429, as IoT Hub throttles, rather than
/// queueing without bound).
final class MethodsFeature: Feature {
    let name = "methods"
    /// The table, in the order the features gave it.
    let table: [DirectMethod]
    var configuration: [DirectMethod] { table }
    let logger: Logger
    /// Sends an answer to the hub (the link's client; tests watch it instead).
    let respond: @Sendable (IoTHubMethodRequest, MethodResult) -> Void
    let worker = SerialThread()
    let waiting = Mutex(0)
    static let maximumWaiting = 16

    /// - Parameter features: whose ``Feature/methods`` make up the table, in their order.
    convenience init(features: [any Feature], link: HubLink?, logger: Logger) {
        self.init(table: features.flatMap(\.methods), logger: logger) { request, result in
            link?.client?.respond(to: request, status: result.status, payload: result.body)
        }
    }

    init(table: [DirectMethod], logger: Logger, respond: @escaping @Sendable (IoTHubMethodRequest, MethodResult) -> Void) {
        self.table = table
        self.logger = logger
        self.respond = respond
    }

    var names: [String] { table.map(\.name) }

    func invoke(_ name: String, payload: [UInt8]) -> MethodResult {
        guard let method = table.first(where: { $0.name == name }) else {
            return .error(404, "unknown method '\(name.prefix(64))'; this device offers \(names.joined(separator: ", "))")
        }
        return method.handle(payload)
    }

    func receive(_ event: IoTHubDeviceEvent) {
        guard case .methodCall(let request, let payload) = event else { return }
        let admitted = waiting.withLock { count -> Bool in
            guard count < Self.maximumWaiting else { return false }
            count += 1
            return true
        }
        guard admitted else {
            logger.warning("method \(request.name.prefix(64)) refused: \(Self.maximumWaiting) calls are waiting", metadata: ["feature": "methods"])
            let busy = MethodResult.error(429, "the device is busy with \(Self.maximumWaiting) method calls; try again later")
            respond(request, busy)
            return
        }
        let started = worker.submit { [self] in
            let result = invoke(request.name, payload: payload)
            waiting.withLock { $0 -= 1 }
            respond(request, result)
        }
        if started != 0 {
            waiting.withLock { $0 -= 1 }
            respond(request, .error(503, "the device cannot start a thread for method calls now (\(POSIX.describe(errno: started))); try again later"))
        }
    }
}
