/// The properties of a device-to-cloud or cloud-to-device message as the topic's property bag
/// carries them (protocol sheet A.7, A.8).
///
/// System properties have reserved names starting with `$.`; everything else is an
/// application property. Set ``contentType`` and ``contentEncoding`` for JSON bodies so hub
/// routing can query the body (A.7).
public struct IoTHubMessageProperties: Sendable, Hashable {
    /// `$.mid`: ≤ 128 ASCII letters, digits and `- : . + % _ # * ? ! ( ) , = @ ; $ '`.
    public var messageID: String?
    /// `$.cid`
    public var correlationID: String?
    /// `$.uid`
    public var userID: String?
    /// `$.ct`, e.g. `application/json`.
    public var contentType: String?
    /// `$.ce`, e.g. `utf-8`.
    public var contentEncoding: String?
    /// `$.ctime`: ISO 8601 UTC without offset.
    public var creationTimeUTC: String?
    /// `$.sub`: IoT Plug and Play component name.
    public var componentName: String?
    /// `$.on`: IoT Edge module output name.
    public var outputName: String?
    /// Other `$`-prefixed names (e.g. `$.to` on C2D messages), in bag order.
    public var otherSystemProperties: [IoTHubPropertyBag.Entry]
    /// Application properties, in bag order.
    public var applicationProperties: [IoTHubPropertyBag.Entry]

    public init(messageID: String? = nil, correlationID: String? = nil, userID: String? = nil,
                contentType: String? = nil, contentEncoding: String? = nil, creationTimeUTC: String? = nil,
                componentName: String? = nil, outputName: String? = nil,
                otherSystemProperties: [IoTHubPropertyBag.Entry] = [],
                applicationProperties: [IoTHubPropertyBag.Entry] = []) {
        self.messageID = messageID
        self.correlationID = correlationID
        self.userID = userID
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.creationTimeUTC = creationTimeUTC
        self.componentName = componentName
        self.outputName = outputName
        self.otherSystemProperties = otherSystemProperties
        self.applicationProperties = applicationProperties
    }

    /// System property names (A.7 table).
    public enum SystemName {
        public static let messageID = "$.mid"
        public static let correlationID = "$.cid"
        public static let userID = "$.uid"
        public static let contentType = "$.ct"
        public static let contentEncoding = "$.ce"
        public static let creationTimeUTC = "$.ctime"
        public static let componentName = "$.sub"
        public static let outputName = "$.on"
    }

    private var systemFields: [(String, String?)] {
        [
            (SystemName.messageID, messageID), (SystemName.correlationID, correlationID),
            (SystemName.userID, userID), (SystemName.contentType, contentType),
            (SystemName.contentEncoding, contentEncoding), (SystemName.creationTimeUTC, creationTimeUTC),
            (SystemName.componentName, componentName), (SystemName.outputName, outputName),
        ]
    }

    /// The bag: known system properties in the A.7 table order, then other system properties,
    /// then application properties. Checks the message id (A.7) and application names.
    public func propertyBag() throws(IoTHubError) -> IoTHubPropertyBag {
        if let messageID { try Self.validateMessageID(messageID) }
        var bag = IoTHubPropertyBag()
        for (name, value) in systemFields {
            if let value { bag.append(name, value) }
        }
        bag.entries += otherSystemProperties
        for entry in applicationProperties {
            guard !entry.name.isEmpty, !entry.name.hasPrefix("$") else { throw .invalidPropertyName(entry.name) }
            bag.entries.append(entry)
        }
        return bag
    }

    /// Sorts a parsed bag into fields. Known system names fill their field (first one wins);
    /// other `$` names go to ``otherSystemProperties``; the rest are application properties.
    public init(bag: IoTHubPropertyBag) {
        self.init()
        for entry in bag.entries {
            switch entry.name {
            case SystemName.messageID where messageID == nil: messageID = entry.value
            case SystemName.correlationID where correlationID == nil: correlationID = entry.value
            case SystemName.userID where userID == nil: userID = entry.value
            case SystemName.contentType where contentType == nil: contentType = entry.value
            case SystemName.contentEncoding where contentEncoding == nil: contentEncoding = entry.value
            case SystemName.creationTimeUTC where creationTimeUTC == nil: creationTimeUTC = entry.value
            case SystemName.componentName where componentName == nil: componentName = entry.value
            case SystemName.outputName where outputName == nil: outputName = entry.value
            default:
                if entry.name.hasPrefix("$") {
                    otherSystemProperties.append(entry)
                } else {
                    applicationProperties.append(entry)
                }
            }
        }
    }

    /// The size IoT Hub counts against the 256 KB limit (A.12): body + system property values
    /// + application property names and values, in UTF-8 bytes.
    public func accountedSize(bodyByteCount: Int) -> Int {
        let system = systemFields.reduce(0) { $0 + ($1.1?.utf8.count ?? 0) }
            + otherSystemProperties.reduce(0) { $0 + ($1.value?.utf8.count ?? 0) }
        let application = applicationProperties.reduce(0) { $0 + $1.name.utf8.count + ($1.value?.utf8.count ?? 0) }
        return bodyByteCount + system + application
    }

    static func validateMessageID(_ id: String) throws(IoTHubError) {
        guard !id.isEmpty else { throw .invalidMessageID(id, reason: "it is empty") }
        guard id.count <= IoTHubLimits.maximumMessageIDLength else {
            throw .invalidMessageID(id, reason: "\(id.count) characters, at most \(IoTHubLimits.maximumMessageIDLength)")
        }
        if let bad = IoTHubIdentifier.firstDisallowed(in: id, punctuation: IoTHubIdentifier.messageIDPunctuation) {
            throw .invalidMessageID(id, reason: "'\(bad)' is not allowed (ASCII letters, digits and - : . + % _ # * ? ! ( ) , = @ ; $ ')")
        }
    }
}
