import COpenSSL
import SystemCalls
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

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

    /// Why the agent refuses this key, or nil when it accepts it: EC P-256, EC P-384 (the key
    /// DPS certificate issuance requires), or RSA with at least 2048 bits (the key types IoT Hub's
    /// samples use, IoT Hub's device-certificate profile).
    public var refusal: String? {
        switch self {
        case let .ec(curve):
            Self.isP256(curve) || Self.isP384(curve) ? nil
                : "curve \(curve) is not supported; the agent accepts EC keys on P-256 and P-384 only"
        case let .rsa(bits):
            bits >= 2048 ? nil : "an RSA key of \(bits) bits is too weak (minimum 2048)"
        case let .other(name):
            "\(name) keys are not supported"
        }
    }

    static func isP256(_ curve: String) -> Bool {
        ["prime256v1", "P-256", "secp256r1"].contains(curve)
    }

    static func isP384(_ curve: String) -> Bool {
        ["secp384r1", "P-384"].contains(curve)
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
        let result = pem.withUnsafeBytes { bytes in Result { () throws(IdentityError) in try parse(pem: bytes, source: source) } }
        return try result.get()
    }

    /// ``parse(pem:source:)`` straight from `pem`: OpenSSL reads the bytes through a memory BIO,
    /// nothing copies them (the file loader cleanses its buffer afterwards).
    static func parse(pem: UnsafeRawBufferPointer, source: String) throws(IdentityError) -> PrivateKey {
        if contains(pem, "ENCRYPTED PRIVATE KEY") || contains(pem, "Proc-Type: 4,ENCRYPTED") {
            throw .encryptedKey(path: source)
        }
        OpenSSLError.clear()
        guard let bio = BIO_new_mem_buf(pem.baseAddress, Int32(clamping: pem.count)) else {
            throw .openSSL(operation: "BIO_new_mem_buf for \(source)", errors: OpenSSLError.drain())
        }
        defer { BIO_free(bio) }
        // The callback answers "no passphrase" instead of prompting.
        guard let key = PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in 0 }, nil) else {
            throw .malformedPEM(path: source, what: "private key", errors: OpenSSLError.drain())
        }
        return PrivateKey(taking: key)
    }

    /// Whether `marker` (ASCII) occurs in `bytes`.
    private static func contains(_ bytes: UnsafeRawBufferPointer, _ marker: StaticString) -> Bool {
        let needle = UnsafeRawBufferPointer(start: marker.utf8Start, count: marker.utf8CodeUnitCount)
        guard needle.count <= bytes.count else { return false }
        for start in 0...(bytes.count - needle.count) where bytes[start] == needle[0] {
            if memcmp(bytes.baseAddress! + start, needle.baseAddress!, needle.count) == 0 { return true }
        }
        return false
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
    /// The largest key file read: a 4096-bit RSA key in PEM is about 3.3 KB.
    static let maximumFileSize = 64 * 1024

    /// Loads a private key file (see ``load(checkedFile:checkPermissions:)``).
    public static func load(file path: String, checkPermissions: Bool = true) throws(IdentityError) -> PrivateKey {
        try load(checkedFile: path, checkPermissions: checkPermissions).key
    }

    /// Opens the key file once, without following a symbolic link (`O_NOFOLLOW`), and judges
    /// that descriptor, not the path: it must be a regular file, and with `checkPermissions`
    /// owned by the user the agent runs as (or root) with no group or other bits. The bytes go
    /// into one buffer that OpenSSL parses in place and that is cleansed (`OPENSSL_cleanse`)
    /// before it is freed. Returns the key and the descriptor's status (its ``POSIX/FileStatus/stamp``
    /// tells a later caller whether the file changed).
    public static func load(checkedFile path: String, checkPermissions: Bool = true) throws(IdentityError)
        -> (key: PrivateKey, status: POSIX.FileStatus) {
        let fd = try openChecked(file: path, checkPermissions: checkPermissions)
        defer { POSIX.close(fd.descriptor) }
        let capacity = maximumFileSize + 1
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 1)
        defer {
            OPENSSL_cleanse(buffer.baseAddress, capacity)
            buffer.deallocate()
        }
        var count = 0
        while count < capacity {
            let read: Int
            do {
                read = try POSIX.read(fd.descriptor, into: UnsafeMutableRawBufferPointer(rebasing: buffer[count...]),
                                      subject: path)
            } catch { throw IdentityError(error, path: path) }
            if read == 0 { break }
            count += read
        }
        if count > maximumFileSize {
            throw .file(path: path, operation: "read", errno: EFBIG,
                        reason: "larger than \(maximumFileSize / 1024) KiB, too large for a private key")
        }
        let key = try parse(pem: UnsafeRawBufferPointer(rebasing: buffer[0..<count]), source: path)
        return (key, fd.status)
    }

    /// The key file's permission bits, judged as ``load(checkedFile:checkPermissions:)`` judges
    /// them: throws ``IdentityError/keyFileSymlink(path:)``, ``IdentityError/keyFileNotRegular(path:)``,
    /// ``IdentityError/keyFileOwner(path:owner:user:)`` or ``IdentityError/keyFilePermissions(path:mode:)``
    /// (when any group or other bit is set: `mode & 0o077 != 0`).
    @discardableResult
    public static func requireOwnerOnly(file path: String) throws(IdentityError) -> UInt32 {
        let fd = try openChecked(file: path, checkPermissions: true)
        POSIX.close(fd.descriptor)
        return fd.status.permissions
    }

    private static func openChecked(file path: String, checkPermissions: Bool) throws(IdentityError)
        -> (descriptor: Int32, status: POSIX.FileStatus) {
        let fd: Int32
        do { fd = try POSIX.openNoFollow(path) } catch {
            if error.errno == ELOOP { throw .keyFileSymlink(path: path) }
            throw IdentityError(error, path: path)
        }
        do throws(IdentityError) {
            let status: POSIX.FileStatus
            do { status = try POSIX.status(of: fd, subject: path) } catch { throw IdentityError(error, path: path) }
            guard status.kind == .regular else { throw .keyFileNotRegular(path: path) }
            if checkPermissions {
                let user = POSIX.effectiveUserID
                if status.owner != user && status.owner != 0 {
                    throw .keyFileOwner(path: path, owner: status.owner, user: user)
                }
                if status.permissions & 0o077 != 0 { throw .keyFilePermissions(path: path, mode: status.permissions) }
            }
            return (fd, status)
        } catch {
            POSIX.close(fd)
            throw error
        }
    }
}
