/// Why a LocalHub operation failed. Each case says what was being done and its
/// ``description`` what to do about it.
public enum HubError: Error, Sendable, CustomStringConvertible {
    /// The SQLite state or a file under the state folder could not be read or written.
    case storage(operation: String, path: String, reason: String)
    /// No device with this id is registered.
    case unknownDevice(String)
    /// A device id IoT Hub would refuse (IoT Hub's X.509 device authentication: ≤ 128 ASCII letters, digits, `-.%_*?!(),:=@$'`).
    case invalidDeviceID(String, reason: String)
    /// A thumbprint that is not 40 (SHA-1) or 64 (SHA-256) hex digits.
    case invalidThumbprint(String)
    /// A CA certificate that cannot be registered (not PEM, not a CA).
    case certificateAuthority(String)
    case twinPatch(TwinPatchError)
    /// The server certificate or key cannot be used.
    case serverIdentity(String)
    /// The device port or the admin socket cannot be opened.
    case listen(what: String, reason: String)
    /// ``LocalHubServer/start()`` was called twice, or an operation needs a running hub.
    case state(String)
    /// The admin socket is not there or nothing answers on it.
    case adminUnavailable(path: String, reason: String)
    /// The hub answered an admin request with an error.
    case adminRequestFailed(String)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case let .storage(operation, path, reason):
            "LocalHub state: \(operation) failed for \(path): \(reason); check that the state folder is writable "
                + "and not used by another hub"
        case .unknownDevice(let id):
            "device '\(id)' is not registered; add it with: localhub device add \(id) --thumbprint HEX "
                + "(or --ca CA.pem)"
        case let .invalidDeviceID(id, reason): "device id '\(id)' is invalid: \(reason)"
        case .invalidThumbprint(let text):
            "thumbprint '\(text)' is not 40 (SHA-1) or 64 (SHA-256) hex digits; compute it with "
                + "fieldagent certs show DEVICE.pem or openssl x509 -noout -fingerprint -sha256 -in DEVICE.pem"
        case .certificateAuthority(let reason): "CA certificate refused: \(reason)"
        case .twinPatch(let error): "\(error)"
        case .serverIdentity(let reason):
            "LocalHub's server certificate: \(reason); pass --cert and --key, or omit both to use a dev PKI under "
                + "the state folder"
        case let .listen(what, reason): "cannot open \(what): \(reason)"
        case .state(let reason): "LocalHub: \(reason)"
        case let .adminUnavailable(path, reason):
            "LocalHub is not running (admin socket \(path): \(reason)); start it with: localhub serve "
                + "--state-dir \(Self.folder(of: path))"
        case .adminRequestFailed(let reason): reason
        case .invalidArgument(let reason): reason
        }
    }

    static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
