import COpenSSL
import Synchronization
import SystemCalls
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where the device's private key lives: a PEM file, or a key held by hardware and named by a
/// key URI (`handle:0x81000001`: a persistent key in a TPM 2.0, used through OpenSSL 3's `tpm2`
/// provider). A URI key is never read into memory: OpenSSL hands every signature to the TPM.
///
/// The same text goes where a key path goes (`--key`, `hub.key`, `certs check --key`): a
/// scheme the agent knows (``providerSchemes``) makes it a URI, anything else is a file path.
public enum KeyLocation: Sendable, Equatable, CustomStringConvertible {
    case file(path: String)
    /// `uri` is opened through OpenSSL's store API with `provider` loaded (before `default`).
    case provider(uri: String, provider: String)

    /// The key URI schemes the agent knows, with the OpenSSL provider that opens them.
    public static let providerSchemes = ["handle": "tpm2"]

    /// The variable the `tpm2` provider reads its TCTI from (`tabrmd:bus_type=system`,
    /// `device:/dev/tpmrm0`, `swtpm:host=…,port=…`); unset, the TSS picks its default.
    public static let tctiVariable = "TPM2OPENSSL_TCTI"

    public init(_ text: String) {
        if let colon = text.firstIndex(of: ":"), let provider = Self.providerSchemes[String(text[..<colon])] {
            self = .provider(uri: text, provider: provider)
        } else {
            self = .file(path: text)
        }
    }

    /// The text as given: the path or the URI.
    public var name: String {
        switch self {
        case let .file(path): path
        case let .provider(uri, _): uri
        }
    }

    public var isFile: Bool {
        if case .file = self { true } else { false }
    }

    /// `file /etc/fieldagent/device.key`, or for a TPM key the handle, the provider and the TCTI
    /// it talks through: what the doctor and `certs check` show.
    public var description: String {
        switch self {
        case let .file(path):
            return "file \(path)"
        case let .provider(uri, provider):
            let tcti = getenv(Self.tctiVariable).map { "\(Self.tctiVariable)=\(String(cString: $0))" }
                ?? "the TSS default TCTI (\(Self.tctiVariable) unset)"
            let holder = provider == "tpm2" ? "held by the TPM" : "held by provider \(provider)"
            return "\(holder) at \(uri) (OpenSSL provider \(provider), \(tcti)); no key file"
        }
    }
}

/// The OpenSSL providers loaded for hardware keys, once per process and never unloaded.
enum KeyProviders {
    private static let loaded = Mutex<Set<String>>([])

    /// Loads `name` into the default library context, then `default` after it: the hardware
    /// provider must come first so its store loader, key management and signatures answer for
    /// its keys (OpenSSL 3.0 does not prefer the key's own provider when it fetches a signature:
    /// a default-first order signs with the default provider and finds no private key).
    static func require(_ name: String, for uri: String) throws(IdentityError) {
        try loaded.withLock { (loaded: inout Set<String>) throws(IdentityError) in
            guard !loaded.contains(name) else { return }
            OpenSSLError.clear()
            guard OSSL_PROVIDER_load(nil, name) != nil else {
                throw .keyURI(uri: uri, problem: "cannot load the OpenSSL provider \(name); install it "
                    + "(Debian: apt install tpm2-openssl)", errors: OpenSSLError.drain())
            }
            guard OSSL_PROVIDER_load(nil, "default") != nil else {
                throw .keyURI(uri: uri, problem: "cannot load OpenSSL's default provider after \(name)",
                              errors: OpenSSLError.drain())
            }
            loaded.insert(name)
        }
    }
}

extension PrivateKey {
    /// Opens the key `location` names: a file (see ``load(file:checkPermissions:)``) or a URI,
    /// through the OpenSSL store API of its provider.
    public static func load(_ location: KeyLocation) throws(IdentityError) -> PrivateKey {
        switch location {
        case let .file(path): try load(file: path)
        case let .provider(uri, provider): try load(uri: uri, provider: provider)
        }
    }

    /// `OSSL_STORE_open(uri)` and the first private key it yields. The key object stays a
    /// reference into the provider: signing with it is a call to the TPM.
    static func load(uri: String, provider: String) throws(IdentityError) -> PrivateKey {
        try KeyProviders.require(provider, for: uri)
        OpenSSLError.clear()
        guard let store = OSSL_STORE_open(uri, nil, nil, nil, nil) else {
            throw .keyURI(uri: uri, problem: "the provider cannot open it", errors: OpenSSLError.drain())
        }
        defer { OSSL_STORE_close(store) }
        _ = OSSL_STORE_expect(store, OSSL_STORE_INFO_PKEY)
        // A store yields a few objects at most; the bound keeps a misbehaving provider from looping us.
        for _ in 0..<16 where OSSL_STORE_eof(store) == 0 {
            guard let info = OSSL_STORE_load(store) else {
                if OSSL_STORE_error(store) != 0 {
                    throw .keyURI(uri: uri, problem: "the provider cannot read the key", errors: OpenSSLError.drain())
                }
                continue
            }
            defer { OSSL_STORE_INFO_free(info) }
            if OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY, let key = OSSL_STORE_INFO_get1_PKEY(info) {
                return PrivateKey(taking: key)
            }
        }
        throw .keyURI(uri: uri, problem: "no private key there", errors: OpenSSLError.drain())
    }
}

/// The device key of a link that reconnects: one ``PrivateKey`` kept across connections, loaded
/// again only when the key file changed (its `lstat` stamp: device, inode, size, times); a key
/// URI's key is loaded once. Each load of a file goes through the checks of
/// ``PrivateKey/load(checkedFile:checkPermissions:)``.
public final class DeviceKey: Sendable {
    public let location: KeyLocation
    private let cached = Mutex<(stamp: [Int64], key: PrivateKey)?>(nil)

    public init(_ location: KeyLocation) {
        self.location = location
    }

    /// The kept key, or a fresh one when there is none yet or the file changed.
    public func current() throws(IdentityError) -> PrivateKey {
        try cached.withLock { (cached: inout (stamp: [Int64], key: PrivateKey)?) throws(IdentityError) -> PrivateKey in
            switch location {
            case let .provider(uri, provider):
                if let cached { return cached.key }
                let key = try PrivateKey.load(uri: uri, provider: provider)
                cached = ([], key)
                return key
            case let .file(path):
                // A failed lstat never matches: the load below reports why.
                let stamp = (try? POSIX.status(path, followingLinks: false).stamp) ?? []
                if let kept = cached, !stamp.isEmpty, kept.stamp == stamp { return kept.key }
                let loaded = try PrivateKey.load(checkedFile: path)
                cached = (loaded.status.stamp, loaded.key)
                return loaded.key
            }
        }
    }
}
