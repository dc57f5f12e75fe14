import Configuration
import FoundationEssentials
import HAL
import IoTHub
import Logging
import Synchronization

/// The device twin's writable settings: desired values from the hub applied live (pure logic in
/// ``TwinProperties``), acknowledged, and kept in the state directory across restarts.
final class TwinFeature: Feature {
    struct Configuration: Sendable {
        /// Settings before any twin value (the configuration's, over the board file's).
        var initial: AgentSettings
        /// Where applied settings are kept (nil: not kept).
        var stateDirectory: String?
    }

    let name = "twin"
    let configuration: Configuration
    let logger: Logger
    let link: HubLink?
    let store: SettingsStore?
    let twin: Mutex<TwinProperties>
    /// Raised when a setting changes, so a sampler waiting out a long period sees it at once.
    let changed: WakeUp
    /// Unknown desired keys already logged (each is logged once; bounded like the acknowledgements).
    let loggedUnknown = Mutex<Set<String>>([])

    init(configuration: Configuration, link: HubLink?, logger: Logger, changed: WakeUp = WakeUp()) {
        self.changed = changed
        self.configuration = configuration
        self.link = link
        self.logger = logger
        store = configuration.stateDirectory.map { SettingsStore(directory: $0) }
        var properties = TwinProperties(settings: configuration.initial)
        if let store {
            switch store.load() {
            case .success(let snapshot?):
                properties = TwinProperties(snapshot: snapshot)
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
            let (update, defaults) = twin.withLock { ($0.applyFullTwin(document), $0.defaultsReport(for: document)) }
            finish(update, source: "twin GET")
            if let defaults { link?.report(defaults) }
        case .desiredPatch(let version, let body):
            let update = twin.withLock { $0.applyPatch(version: version, body: body) }
            if update.stale {
                logger.info("ignored a stale desired patch ($version \(version) ≤ \(desiredVersion))", metadata: ["feature": "twin"])
            }
            finish(update, source: "desired patch $version \(version)")
        default:
            break
        }
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
        if update.reportedPatch != nil, let store {
            let snapshot = twin.withLock { $0.snapshot }
            if case .failure(let problem) = store.save(snapshot) {
                logger.error("\(problem); the applied settings will not survive a restart", metadata: ["feature": "twin"])
            }
        }
        if let patch = update.reportedPatch { link?.report(patch) }
    }
}
