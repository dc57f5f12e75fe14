import COpenSSL
import SystemCalls

/// A key's algorithm and size, as the agent judges it.
public enum KeyType: Sendable, Equatable, CustomStringConvertible {
    /// An elliptic-curve key on the named curve (OpenSSL's name: `prime256v1` is P-256).
    case ec(curve: String)
    case rsa(bits: Int)
    /// Anything else (`ED25519`, `DSA`), by OpenSSL's type name.
    case other(String)

    /// `EC P-256`, `EC secp384r1`, `RSA 2048`, `ED25519`.
    public var description: String {
        switch self {
        case let .ec(curve): "EC \(Self.isP256(curve) ? "P-256" : curve)"
        case let .rsa(bits): "RSA \(bits)"
        case let .other(name): name
        }
    }

    /// Why the agent refuses this key, or nil when it accepts it: EC P-256, or RSA with at least
    /// 2048 bits (the key types IoT Hub's samples use, IoT Hub's device-certificate profile).
    public var refusal: String? {
        switch self {
        case let .ec(curve):
            Self.isP256(curve) ? nil : "curve \(curve) is not supported; the agent accepts EC keys on P-256 only"
        case let .rsa(bits):
            bits >= 2048 ? nil : "an RSA key of \(bits) bits is too weak (minimum 2048)"
        case let .other(name):
            "\(name) keys are not supported"
        }
    }

    static func isP256(_ curve: String) -> Bool {
        ["prime256v1", "P-256", "secp256r1"].contains(curve)
    }

    /// Reads the type of an `EVP_PKEY *`.
    init(of key: OpaquePointer) {
        if EVP_PKEY_is_a(key, "EC") == 1 {
            var name = [CChar](repeating: 0, count: 80)
            var length = 0
            if EVP_PKEY_get_group_name(key, &name, name.count, &length) == 1 {
                self = .ec(curve: String(decoding: name[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self))
            } else {
                _ = OpenSSLError.drain()
                self = .ec(curve: "unknown curve")
            }
        } else if EVP_PKEY_is_a(key, "RSA") == 1 || EVP_PKEY_is_a(key, "RSA-PSS") == 1 {
            self = .rsa(bits: Int(EVP_PKEY_get_bits(key)))
        } else {
            self = .other(EVP_PKEY_get0_type_name(key).map { String(cString: $0) } ?? "unknown key type")
        }
    }
}

/// A private key, held by OpenSSL (`EVP_PKEY *`).
///
/// Contract: owned and never changed after it is made, so it may be shared between threads. It
/// is never written anywhere except by ``DevPKI/writeKey(_:to:mode:)`` with mode 0600.
public final class PrivateKey: @unchecked Sendable {
    package let pointer: OpaquePointer

    /// Takes ownership of one reference to an `EVP_PKEY *`.
    package init(taking pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit { EVP_PKEY_free(pointer) }

    public var keyType: KeyType { KeyType(of: pointer) }

    /// Parses an unencrypted PEM private key (PKCS#8, or the traditional RSA/EC forms);
    /// `source` names it in errors. Encrypted keys are refused: there is no one to ask for a
    /// passphrase, and OpenSSL's default would prompt on the terminal.
    public static func parse(pem: [UInt8], source: String) throws(IdentityError) -> PrivateKey {
        let text = String(decoding: pem, as: UTF8.self)
        if text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
            throw .encryptedKey(path: source)
        }
        OpenSSLError.clear()
        let bio: OpaquePointer? = pem.withUnsafeBytes { BIO_new_mem_buf($0.baseAddress, Int32(clamping: $0.count)) }
        guard let bio else { throw .openSSL(operation: "BIO_new_mem_buf for \(source)", errors: OpenSSLError.drain()) }
        defer { BIO_free(bio) }
        // The callback answers "no passphrase" instead of prompting.
        guard let key = PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in 0 }, nil) else {
            throw .malformedPEM(path: source, what: "private key", errors: OpenSSLError.drain())
        }
        return PrivateKey(taking: key)
    }

    /// The key as unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    public func pem() throws(IdentityError) -> [UInt8] {
        OpenSSLError.clear()
        guard let bio = BIO_new(BIO_s_mem()) else {
            throw .openSSL(operation: "BIO_new", errors: OpenSSLError.drain())
        }
        defer { BIO_free(bio) }
        guard PEM_write_bio_PrivateKey(bio, pointer, nil, nil, 0, nil, nil) == 1 else {
            throw .openSSL(operation: "PEM_write_bio_PrivateKey", errors: OpenSSLError.drain())
        }
        return BIOText.drainBytes(bio)
    }
}

extension PrivateKey {
    /// Loads a private key file, refusing it first when group or others can read it (the
    /// `chmod 600 FILE` hint is in the error).
    public static func load(file path: String, checkPermissions: Bool = true) throws(IdentityError) -> PrivateKey {
        if checkPermissions { try requireOwnerOnly(file: path) }
        let bytes: [UInt8]
        do { bytes = try POSIX.readFile(path) } catch { throw IdentityError(error, path: path) }
        return try parse(pem: bytes, source: path)
    }

    /// The file's permission bits; throws ``IdentityError/keyFilePermissions(path:mode:)`` when
    /// any group or other bit is set (`mode & 0o077 != 0`).
    @discardableResult
    public static func requireOwnerOnly(file path: String) throws(IdentityError) -> UInt32 {
        let mode: UInt32
        do { mode = try POSIX.status(path).permissions } catch { throw IdentityError(error, path: path) }
        if mode & 0o077 != 0 { throw .keyFilePermissions(path: path, mode: mode) }
        return mode
    }
}
