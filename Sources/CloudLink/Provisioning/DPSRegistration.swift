import IoTHub
import JSON

/// What a device asks the Device Provisioning Service for over MQTT (X.509 attestation): its
/// client id, user name, the response subscription, the register and poll topics, and the
/// register body. Pure: no I/O, standard library, JSON and IoTHub's property bag only.
///
/// ## Contract
/// - The user name is `{idScope}/registrations/{registrationId}/api-version=2019-03-31` (no `?`),
///   or `api-version=2025-07-01-preview` when the request carries a CSR (certificate issuance).
/// - The registration id is 1…128 characters of ASCII letters, digits and `- . _ :`
///   (``validate()``); with X.509 it must equal the device certificate's CN.
/// - The register body is `{"registrationId":…,"payload":…,"csr":…}` with `payload` and `csr`
///   only when given; `csr` is base64 DER PKCS#10 without PEM armour or line breaks.
public struct DPSRegistration: Sendable, Hashable {
    /// DPS's MQTT API version without a CSR.
    public static let apiVersion = "2019-03-31"
    /// The API version that takes a CSR and answers with an issued certificate chain.
    public static let issuanceAPIVersion = "2025-07-01-preview"
    /// The subscription every response arrives on.
    public static let responseFilter = "$dps/registrations/res/#"

    public var idScope: String
    public var registrationID: String
    /// Custom allocation data (`payload` in the register body).
    public var payload: JSONValue?
    /// Base64 DER PKCS#10 (no armour, no newlines): asks DPS to issue a certificate.
    public var csr: String?

    public init(idScope: String, registrationID: String, payload: JSONValue? = nil, csr: String? = nil) {
        self.idScope = idScope
        self.registrationID = registrationID
        self.payload = payload
        self.csr = csr
    }

    /// Checks the id scope and the registration id before anything goes on the wire.
    public func validate() throws(ProvisioningError) {
        if idScope.isEmpty || !idScope.utf8.allSatisfy(Self.isAlphanumeric) {
            throw .invalidIDScope(idScope)
        }
        let allowed: Set<UInt8> = [UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: ":")]
        if registrationID.isEmpty || registrationID.utf8.count > 128
            || !registrationID.utf8.allSatisfy({ Self.isAlphanumeric($0) || allowed.contains($0) }) {
            throw .invalidRegistrationID(registrationID)
        }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// The MQTT client id: the registration id.
    public var clientID: String { registrationID }

    /// The MQTT user name (the password stays empty: X.509 attestation).
    public var userName: String {
        "\(idScope)/registrations/\(registrationID)/api-version=\(csr == nil ? Self.apiVersion : Self.issuanceAPIVersion)"
    }

    /// The register request's topic for request id `rid`.
    public static func registerTopic(rid: Int) -> String {
        "$dps/registrations/PUT/iotdps-register/?$rid=\(rid)"
    }

    /// The operation-status poll's topic (its body is empty).
    public static func pollTopic(rid: Int, operationID: String) -> String {
        var bag = IoTHubPropertyBag()
        bag.append("operationId", operationID)
        return "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=\(rid)&\(bag.encoded)"
    }

    /// The register body, members in the order DPS documents them.
    public var registerBody: [UInt8] {
        var members: [(String, JSONValue)] = [("registrationId", .string(registrationID))]
        if let payload { members.append(("payload", payload)) }
        if let csr { members.append(("csr", .string(csr))) }
        return JSONValue.object(JSONObject(uniqueKeysWithValues: members)).encoded(sortingKeys: false)
    }
}
