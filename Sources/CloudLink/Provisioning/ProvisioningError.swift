/// Why provisioning did not end with an assignment. Each message names the problem and the fix.
public enum ProvisioningError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidIDScope(String)
    case invalidRegistrationID(String)
    /// A message on the response subscription whose topic is not a DPS response.
    case unexpectedTopic(String)
    case malformedResponse(String)
    /// DPS refused for good: an error status (not 429/5xx) or a final `failed`/`disabled` status.
    case refused(registrationID: String, httpStatus: Int, errorCode: Int?, message: String)
    /// The SUBACK refused `$dps/registrations/res/#`.
    case subscriptionRefused
    /// No answer to a request within the response time-out.
    case noResponse(what: String, after: Duration)
    /// DPS kept answering 202 (`assigning`) beyond the poll limit.
    case tooManyPolls(Int)
    /// 429/5xx beyond the retry limit; the last status and message.
    case tooManyRetries(Int, lastStatus: Int, message: String)
    /// A 200 `assigned` without an assigned hub or device id.
    case incompleteAssignment(String)
    /// The connection to DPS failed or ended (TLS, CONNACK, the peer closing); the client's words.
    case connection(String)
    /// The onboarding certificate, or issuance: the new key, the CSR, the issued chain (the
    /// identity layer's words, which name the file and the fix).
    case certificate(String)

    /// Worth trying again later (with backoff): the service was busy or unreachable.
    public var isRetriable: Bool {
        switch self {
        case .noResponse, .tooManyRetries, .connection: true
        case .tooManyPolls: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .invalidIDScope(let scope):
            "provisioning id scope '\(scope)' is invalid; copy the ID Scope (e.g. 0ne00ABC123) from the DPS overview page"
        case .invalidRegistrationID(let id):
            "registration id '\(id)' is invalid; use 1-128 letters, digits and - . _ : (with X.509 it must equal the certificate's CN)"
        case .unexpectedTopic(let topic): "DPS answered on '\(topic)', which is not a DPS response topic"
        case .malformedResponse(let reason): "DPS sent a response that cannot be read: \(reason)"
        case let .refused(id, status, code, message):
            "DPS refused registration \(id): \(code.map(String.init) ?? String(status)) \(message); \(Self.hint(status: status, code: code))"
        case .subscriptionRefused:
            "DPS refused the subscription to $dps/registrations/res/#; check that the endpoint is a DPS (global.azure-devices-provisioning.net) and not a hub"
        case let .noResponse(what, after):
            "DPS did not answer the \(what) within \(after); check the endpoint and the network, the agent retries with backoff"
        case .tooManyPolls(let count):
            "DPS was still assigning after \(count) status polls; the agent retries later (check the allocation policy or custom allocation function)"
        case let .tooManyRetries(count, status, message):
            "DPS stayed busy (\(status) \(message)) through \(count) retries; the agent retries later with backoff"
        case .incompleteAssignment(let detail):
            "DPS reported 'assigned' without \(detail); check the enrollment's linked IoT hubs"
        case .connection(let reason): "cannot talk to DPS: \(reason)"
        case .certificate(let reason): "DPS device certificate: \(reason)"
        }
    }

    /// The fix for a refusal, by DPS error code (errorCode / 1000 = HTTP status).
    static func hint(status: Int, code: Int?) -> String {
        switch code {
        case 401002?:
            return "add an enrollment group for the CA that issued the device certificate (or an individual enrollment for this certificate)"
        case 400004?:
            return "check that the registration id equals the certificate's CN and that the CSR key is EC P-384"
        case 404001?, 404002?:
            return "check provisioning.id_scope against the DPS overview page"
        default:
            break
        }
        switch status {
        case 401: return "check that the device certificate chains to a CA verified in DPS and that an enrollment matches it"
        case 403: return "the enrollment is disabled; enable it in DPS"
        case 404: return "check provisioning.id_scope and the registration id"
        case 400: return "check the registration id (the certificate's CN) and the request"
        default: return "see the DPS enrollment and its registration record"
        }
    }
}
