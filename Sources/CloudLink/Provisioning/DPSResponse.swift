import IoTHub
import JSON

/// A DPS answer's topic: `$dps/registrations/res/{status}/?$rid={rid}&retry-after={seconds}`.
public struct DPSResponseTopic: Sendable, Hashable {
    public static let prefix = "$dps/registrations/res/"

    /// The HTTP status DPS answered with (200, 202, 4xx, 5xx).
    public var status: Int
    public var rid: String
    /// Seconds to wait before the next request, when DPS says.
    public var retryAfter: Int?

    public init(status: Int, rid: String, retryAfter: Int? = nil) {
        self.status = status
        self.rid = rid
        self.retryAfter = retryAfter
    }

    public init(parsing topic: String) throws(ProvisioningError) {
        guard topic.hasPrefix(Self.prefix) else { throw .unexpectedTopic(topic) }
        let rest = topic.dropFirst(Self.prefix.count)
        guard let slash = rest.firstIndex(of: "/") else { throw .unexpectedTopic(topic) }
        guard let status = Int(rest[..<slash]), (100...599).contains(status) else { throw .unexpectedTopic(topic) }
        let bag: IoTHubPropertyBag
        do { bag = try IoTHubPropertyBag(parsing: rest[rest.index(after: slash)...]) } catch {
            throw .unexpectedTopic(topic)
        }
        guard let rid = bag.value(for: "$rid"), !rid.isEmpty else { throw .unexpectedTopic(topic) }
        self.status = status
        self.rid = rid
        retryAfter = bag.value(for: "retry-after").flatMap { Int($0) }.flatMap { $0 >= 0 ? $0 : nil }
    }
}

/// DPS's registration state (the `registrationState` of an operation).
public struct DPSRegistrationState: Sendable, Hashable {
    public var registrationID: String?
    public var assignedHub: String?
    public var deviceID: String?
    /// `assigned`, `failed`, `disabled`, `assigning`, `unassigned`.
    public var status: String?
    /// `initialAssignment`, `deviceDataMigrated`, `reprovisionedToInitialAssignment`, …
    public var substatus: String?
    /// Base64 DER certificates DPS issued for the CSR (any order: find the leaf by its key).
    public var issuedCertificateChain: [String]
    public var errorCode: Int?
    public var errorMessage: String?
    public var createdDateTimeUtc: String?
    public var lastUpdatedDateTimeUtc: String?

    public init(registrationID: String? = nil, assignedHub: String? = nil, deviceID: String? = nil, status: String? = nil,
                substatus: String? = nil, issuedCertificateChain: [String] = [], errorCode: Int? = nil,
                errorMessage: String? = nil, createdDateTimeUtc: String? = nil, lastUpdatedDateTimeUtc: String? = nil) {
        self.registrationID = registrationID
        self.assignedHub = assignedHub
        self.deviceID = deviceID
        self.status = status
        self.substatus = substatus
        self.issuedCertificateChain = issuedCertificateChain
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.createdDateTimeUtc = createdDateTimeUtc
        self.lastUpdatedDateTimeUtc = lastUpdatedDateTimeUtc
    }
}

/// A DPS answer's body: an operation (`operationId`, `status`, `registrationState`) or an error
/// (`errorCode`, `message`, `trackingId`). Members DPS may add are ignored.
public struct DPSResponseBody: Sendable, Hashable {
    public var operationID: String?
    public var status: String?
    public var registrationState: DPSRegistrationState?
    public var errorCode: Int?
    public var message: String?
    public var trackingID: String?

    public init(operationID: String? = nil, status: String? = nil, registrationState: DPSRegistrationState? = nil,
                errorCode: Int? = nil, message: String? = nil, trackingID: String? = nil) {
        self.operationID = operationID
        self.status = status
        self.registrationState = registrationState
        self.errorCode = errorCode
        self.message = message
        self.trackingID = trackingID
    }

    /// An empty body reads as an empty object (some errors come without one).
    public init(parsing bytes: [UInt8]) throws(ProvisioningError) {
        self.init()
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return }
        let value: JSONValue
        do { value = try JSONValue.parse(bytes) } catch { throw .malformedResponse(error.description) }
        guard case .object = value else { throw .malformedResponse("the body is \(value.kind), not an object") }
        operationID = value["operationId"]?.stringValue
        status = value["status"]?.stringValue
        errorCode = value["errorCode"]?.intValue
        message = value["message"]?.stringValue
        trackingID = value["trackingId"]?.stringValue
        if let state = value["registrationState"], case .object = state {
            var chain: [String] = []
            if case .array(let items)? = state["issuedCertificateChain"] {
                for item in items {
                    guard let text = item.stringValue else {
                        throw .malformedResponse("issuedCertificateChain holds \(item.kind), not base64 strings")
                    }
                    chain.append(text)
                }
            }
            registrationState = DPSRegistrationState(
                registrationID: state["registrationId"]?.stringValue, assignedHub: state["assignedHub"]?.stringValue,
                deviceID: state["deviceId"]?.stringValue, status: state["status"]?.stringValue,
                substatus: state["substatus"]?.stringValue, issuedCertificateChain: chain,
                errorCode: state["errorCode"]?.intValue, errorMessage: state["errorMessage"]?.stringValue,
                createdDateTimeUtc: state["createdDateTimeUtc"]?.stringValue,
                lastUpdatedDateTimeUtc: state["lastUpdatedDateTimeUtc"]?.stringValue)
        }
    }
}

extension JSONValue {
    fileprivate var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }
}
