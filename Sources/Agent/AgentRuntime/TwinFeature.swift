import Configuration
import FoundationEssentials
import HAL
import IoTHub
import JSON
import Logging
import SensorCore
import Synchronization

/// The device twin's writable settings: desired values from the hub applied live (pure logic in
/// ``TwinProperties``), acknowledged, and kept in the state directory across restarts.
final class TwinFeature: Feature {
    struct Configuration: Sendable {
        /// Settings before any twin value (the configuration's, over the board file's).
        var initial: AgentSettings
        /// Where applied settings are kept (nil: not kept).
        var stateDirectory: String?
        /// The board's sensors and their channels (what a calibration may name).
        var sensors: [String: [ChipDescriptor.ChannelSpec]]? = nil
    }

    let name = "twin"
    let configuration: Configuration
    let logger: Logger
    let link: HubLink?
    let store: SettingsStore?
    let twin: Mutex<TwinProperties>
    /// Raised when a setting changes, so a sampler waiting out a long period sees it at once.
    let changed: WakeUp
    /// Passes a `predictorModel` request to the co-located predictor: the model id now serving, or
    /// why it was refused (nil: no predictor configured).
    let deliverModel: (@Sendable (PredictorModelRequest) -> Result<String, PredictorModelRequestError>)?
    /// The last model request passed on, so a twin GET repeating it does not reload it.
    let lastModel = Mutex<PredictorModelRequest?>(nil)
    /// Unknown desired keys already logged (each is logged once; bounded like the acknowledgements).
    let loggedUnknown = Mutex<Set<String>>([])

    init(configuration: Configuration, link: HubLink?, logger: Logger, changed: WakeUp = WakeUp(),
         deliverModel: (@Sendable (PredictorModelRequest) -> Result<String, PredictorModelRequestError>)? = nil) {
        self.changed = changed
        self.deliverModel = deliverModel
        self.configuration = configuration
        self.link = link
        self.logger = logger
        store = configuration.stateDirectory.map { SettingsStore(directory: $0) }
        var properties = TwinProperties(settings: configuration.initial, sensors: configuration.sensors)
        if let store {
            switch store.load() {
            case .success(let snapshot?):
                properties = TwinProperties(snapshot: snapshot, sensors: configuration.sensors)
                logger.notice("restored twin settings (desired $version \(snapshot.desiredVersion)) from \(store.path): sendFrequency \(DurationText.format(snapshot.settings.sendFrequency)), route \(snapshot.settings.route.rawValue)",
                              metadata: ["feature": "twin"])
            case .success(nil):
                break
            case .failure(let problem):
                logger.warning("\(problem); starting from the configured settings", metadata: ["feature": "twin"])
            }
        }
        twin = Mutex(properties)
    }

    /// The settings in force now.
    var settings: AgentSettings { twin.withLock { $0.settings } }
    var desiredVersion: Int { twin.withLock { $0.desiredVersion } }

    func receive(_ event: IoTHubDeviceEvent) {
        switch event {
        case .twin(let document):
            let (before, update, defaults) = twin.withLock { ($0.desiredVersion, $0.applyFullTwin(document), $0.defaultsReport(for: document)) }
            if update.askAgain {
                logger.info("the twin GET answered an older desired $version than the \(before) in force; asking again", metadata: ["feature": "twin"])
                link?.requestTwin()
                return
            }
            if desiredVersion < before {
                logger.warning("the hub's desired $version went back from \(before) to \(desiredVersion) (twin recreated?); its values are applied",
                               metadata: ["feature": "twin"])
            }
            finish(update, source: "twin GET")
            if let defaults { link?.report(defaults) }
            let desired = (try? JSONValue.parse(document))?["desired"]
            deliver(desired, version: desired?["$version"]?.intValue ?? 0)
        case .desiredPatch(let version, let body):
            let update = twin.withLock { $0.applyPatch(version: version, body: body) }
            if update.stale {
                logger.info("ignored a stale desired patch ($version \(version) ≤ \(desiredVersion))", metadata: ["feature": "twin"])
            }
            finish(update, source: "desired patch $version \(version)")
            if !update.stale { deliver(try? JSONValue.parse(body), version: version) }
        default:
            break
        }
    }

    /// Hands a new `predictorModel` to the predictor and acknowledges it on the twin (200 serving,
    /// 400 malformed, 500 refused by the predictor or none configured).
    func deliver(_ desired: JSONValue?, version: Int) {
        guard let parsed = PredictorModelRequest.from(desired: desired) else { return }
        let ack: JSONValue
        switch parsed {
        case .failure(let error):
            logger.warning("refused desired predictorModel: \(error.reason)", metadata: ["feature": "twin"])
            ack = TwinProperties.ack(desired?[PredictorModelRequest.key] ?? .null, code: 400, version: version, description: error.reason)
        case .success(let request):
            guard lastModel.withLock({ $0 }) != request else { return }
            guard let deliverModel else {
                ack = TwinProperties.ack(request.twinValue, code: 500, version: version, description: "no spike predictor is configured")
                break
            }
            switch deliverModel(request) {
            case .success(let modelID):
                lastModel.withLock { $0 = request }
                logger.notice("the spike predictor now serves \(modelID) (\(request.path))", metadata: ["feature": "twin"])
                ack = TwinProperties.ack(request.twinValue, code: 200, version: version, description: "serving \(modelID)")
            case .failure(let error):
                logger.warning("the spike predictor refused \(request.path): \(error.reason); its previous model keeps serving", metadata: ["feature": "twin"])
                ack = TwinProperties.ack(request.twinValue, code: 500, version: version, description: error.reason)
            }
        }
        link?.report(JSONValue.object([PredictorModelRequest.key: ack]).encoded())
    }

    func finish(_ update: TwinProperties.Update, source: String) {
        if let unreadable = update.unreadable {
            logger.warning("\(unreadable); settings unchanged", metadata: ["feature": "twin"])
            return
        }
        let current = settings
        if !update.changed.isEmpty { changed.raise() }
        for property in update.changed {
            logger.notice("\(property.rawValue) is now \(current.twinValue(property)) (from the \(source))", metadata: ["feature": "twin"])
        }
        for (property, reason) in update.rejected.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            logger.warning("refused desired \(property.rawValue): \(reason); \(current.twinValue(property)) stays in force", metadata: ["feature": "twin"])
        }
        let firstSeen = loggedUnknown.withLock { logged in
            update.unknown.filter { name in
                guard logged.count < 4 * TwinProperties.maximumUnknownAcknowledged else { return false }
                return logged.insert(name).inserted
            }
        }
        for name in firstSeen {
            logger.warning("desired \(name.prefix(AgentSettings.maximumTextLength)) is not a writable property of this agent; acknowledged ac 404 and left alone",
                           metadata: ["feature": "twin"])
        }
        var patch = update.reportedPatch
        if let acks = patch.flatMap({ try? JSONValue.parse($0) }), acks[WritableProperty.calibration.rawValue]?["ac"] == .integer(200) {
            // Who set the calibration in force, for the audit (the page reports its own).
            patch = acks.merging(.object([TwinProperties.calibrationChangeKey: .object([
                "source": .string("twin"), "at": .string(Date().formatted(Date.ISO8601FormatStyle())), "av": .integer(Int64(desiredVersion)),
            ])])).encoded()
        }
        save(patch)
    }

    /// Keeps the settings in force (when a reported patch says something was acknowledged) and
    /// reports the patch.
    func save(_ patch: [UInt8]?) {
        guard let patch else { return }
        if let store {
            let snapshot = twin.withLock { $0.snapshot }
            if case .failure(let problem) = store.save(snapshot) {
                logger.error("\(problem); the applied settings will not survive a restart", metadata: ["feature": "twin"])
            }
        }
        link?.report(patch)
    }

    /// `POST /api/calibrate` from the technician's page: one channel's calibration in the twin's
    /// shape (`{"ambient": {"temperature": {"offset": -0.4}}}`, `null` removes it), checked as a
    /// desired `calibration` is, applied live, kept with the twin settings and reported
    /// (``TwinProperties/applyLocalCalibration(_:source:at:channel:)``). 200 with the channel's
    /// calibration in force, or 400 with the reason.
    func calibrateFromPage(_ body: [UInt8]) -> MethodResult {
        guard let value = try? JSONValue.parse(body), case .object(let bySensor) = value, bySensor.count == 1,
              let (sensor, channels) = bySensor.first, case .object(let byChannel) = channels, byChannel.count == 1,
              let channel = byChannel.keys.first else {
            return .error(400, "expected one channel's calibration: {\"SENSOR\": {\"CHANNEL\": {\"offset\": N} or {\"points\": [{\"raw\", \"reference\"}, {…}]} or null}}")
        }
        let path = "\(sensor.prefix(AgentSettings.maximumTextLength)).\(channel.prefix(AgentSettings.maximumTextLength))"
        let result = twin.withLock {
            $0.applyLocalCalibration(value, source: "page", at: Date().formatted(Date.ISO8601FormatStyle()), channel: path)
        }
        switch result {
        case .failure(let rejection):
            logger.warning("refused a calibration from the technician's page: \(rejection.reason)", metadata: ["feature": "twin"])
            return .error(400, rejection.reason)
        case .success(let update):
            // The channel parsed, or the calibration would have been refused.
            let inForce = Channel(rawValue: channel).flatMap { c in settings.calibration(sensor, c).map { (c, $0) } }
            let label = inForce.map { $0.1.label(digits: $0.0.facts.digits) }
            logger.notice("calibration of \(path) is now \(label ?? "none") (from the technician's page)", metadata: ["feature": "twin"])
            if !update.changed.isEmpty { changed.raise() }
            save(update.reportedPatch)
            return .ok(.object(["channel": .string(path), "calibration": inForce.map { AgentSettings.calibrationValue($0.1) } ?? .null,
                                "label": label.map(JSONValue.string) ?? .null]))
        }
    }
}
