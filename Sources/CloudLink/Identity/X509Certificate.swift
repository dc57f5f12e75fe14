import COpenSSL
import COpenSSLShims
import FoundationEssentials
import SystemCalls

/// One X.509 certificate, parsed by OpenSSL.
///
/// Contract: immutable once made; the wrapped `X509 *` is owned (freed on deinit) and only read,
/// so an instance may be shared between threads. Names are rendered `CN=dev-1, O=FieldAgent Dev`
/// in the order the certificate stores them.
public final class X509Certificate: @unchecked Sendable, CustomStringConvertible {
    /// The owned `X509 *`; other targets of the package pass it to OpenSSL (e.g. `SSL_CTX_use_certificate`).
    package let pointer: OpaquePointer

    /// Takes ownership of `pointer` (one reference).
    package init(taking pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit { X509_free(pointer) }

    /// Parses every PEM certificate in `pem`, in order; `source` names it in errors.
    public static func parseChain(pem: [UInt8], source: String) throws(IdentityError) -> [X509Certificate] {
        OpenSSLError.clear()
        let bio: OpaquePointer? = pem.withUnsafeBytes { BIO_new_mem_buf($0.baseAddress, Int32(clamping: $0.count)) }
        guard let bio else { throw .openSSL(operation: "BIO_new_mem_buf for \(source)", errors: OpenSSLError.drain()) }
        defer { BIO_free(bio) }
        var chain: [X509Certificate] = []
        while true {
            guard let certificate = PEM_read_bio_X509(bio, nil, nil, nil) else {
                let errors = OpenSSLError.drain()
                // "no start line" after at least one block is the normal end of the file.
                let endOfFile = errors.count == 1 && errors.contains(library: ERR_LIB_PEM, reason: PEM_R_NO_START_LINE)
                if endOfFile && !chain.isEmpty { return chain }
                if chain.isEmpty && (errors.isEmpty || endOfFile) { throw .noCertificate(path: source, errors: errors) }
                throw .malformedPEM(path: source, what: "certificate \(chain.count + 1)", errors: errors)
            }
            chain.append(X509Certificate(taking: certificate))
        }
    }

    /// Reads every certificate of a PEM file (a chain: leaf first, then intermediates).
    public static func load(chainFile path: String) throws(IdentityError) -> [X509Certificate] {
        let bytes: [UInt8]
        do { bytes = try POSIX.readFile(path) } catch { throw IdentityError(error, path: path) }
        return try parseChain(pem: bytes, source: path)
    }

    /// The DER encoding, as IoT Hub hashes it for thumbprints.
    public var derBytes: [UInt8] {
        let length = i2d_X509(pointer, nil)
        guard length > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: Int(length))
        bytes.withUnsafeMutableBufferPointer { buffer in
            var cursor = buffer.baseAddress
            _ = i2d_X509(pointer, &cursor)
        }
        return bytes
    }

    /// SHA-1 thumbprint of the DER encoding: 40 upper-case hex digits, no colons, as IoT Hub shows it.
    public var sha1Thumbprint: String { digest(EVP_sha1()) }

    /// SHA-256 thumbprint of the DER encoding: 64 upper-case hex digits, no colons.
    public var sha256Thumbprint: String { digest(EVP_sha256()) }

    private func digest(_ type: OpaquePointer?) -> String {
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard X509_digest(pointer, type, &output, &length) == 1 else {
            _ = OpenSSLError.drain()
            return ""
        }
        return output[0..<Int(length)].map(hexByte).joined()
    }

    /// `CN=dev-1, O=FieldAgent Dev`.
    public var subject: String { Self.render(X509_get_subject_name(pointer)) }

    /// The issuer's name, rendered as ``subject`` is.
    public var issuer: String { Self.render(X509_get_issuer_name(pointer)) }

    /// The subject's (last) common name, if it has one.
    public var commonName: String? {
        guard let name = X509_get_subject_name(pointer) else { return nil }
        let index = X509_NAME_get_index_by_NID(name, NID_commonName, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index) else { return nil }
        return Self.utf8(X509_NAME_ENTRY_get_data(entry))
    }

    /// Decimal serial number.
    public var serialNumber: String {
        guard let serial = X509_get0_serialNumber(pointer), let number = ASN1_INTEGER_to_BN(serial, nil) else {
            _ = OpenSSLError.drain()
            return "?"
        }
        defer { BN_free(number) }
        guard let text = BN_bn2dec(number) else { return "?" }
        defer { COpenSSLShims_OPENSSL_free(text) }
        return String(cString: text)
    }

    public var notBefore: Date { Self.date(X509_get0_notBefore(pointer)) }
    public var notAfter: Date { Self.date(X509_get0_notAfter(pointer)) }

    /// Whether basicConstraints says CA:TRUE.
    public var isCertificateAuthority: Bool { X509_check_ca(pointer) != 0 }

    /// Whether subject and issuer are the same name (a root or a self-signed leaf).
    public var isSelfIssued: Bool {
        X509_NAME_cmp(X509_get_subject_name(pointer), X509_get_issuer_name(pointer)) == 0
    }

    /// `DNS:localhost, IP Address:127.0.0.1`, or nil without a subjectAltName extension.
    public var subjectAlternativeNames: String? {
        let index = X509_get_ext_by_NID(pointer, NID_subject_alt_name, -1)
        guard index >= 0, let extensionPointer = X509_get_ext(pointer, index) else { return nil }
        return BIOText.capture { bio in X509V3_EXT_print(bio, extensionPointer, 0, 0) == 1 }
    }

    /// The certified public key's type and size (`EC P-256`, `RSA 2048`).
    public var keyType: KeyType {
        guard let key = X509_get0_pubkey(pointer) else {
            _ = OpenSSLError.drain()
            return .other("unreadable public key")
        }
        return KeyType(of: key)
    }

    public var description: String { subject }

    // MARK: - Helpers

    static func render(_ name: OpaquePointer?) -> String {
        guard let name else { return "" }
        var parts: [String] = []
        for index in 0..<X509_NAME_entry_count(name) {
            guard let entry = X509_NAME_get_entry(name, index) else { continue }
            let nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry))
            let key = OBJ_nid2sn(nid).map { String(cString: $0) } ?? "\(nid)"
            parts.append("\(key)=\(utf8(X509_NAME_ENTRY_get_data(entry)) ?? "?")")
        }
        return parts.joined(separator: ", ")
    }

    static func utf8(_ string: UnsafePointer<ASN1_STRING>?) -> String? {
        guard let string else { return nil }
        var output: UnsafeMutablePointer<UInt8>?
        let length = ASN1_STRING_to_UTF8(&output, string)
        guard length >= 0, let output else {
            _ = OpenSSLError.drain()
            return nil
        }
        defer { COpenSSLShims_OPENSSL_free(output) }
        return String(decoding: UnsafeBufferPointer(start: output, count: Int(length)), as: UTF8.self)
    }

    static func date(_ time: UnsafePointer<ASN1_TIME>?) -> Date {
        var parts = tm()
        guard let time, ASN1_TIME_to_tm(time, &parts) == 1 else {
            _ = OpenSSLError.drain()
            return Date(timeIntervalSince1970: 0)
        }
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }
}

func hexByte(_ byte: UInt8) -> String {
    let digits = Array("0123456789ABCDEF")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
}

/// Text an OpenSSL printer writes into a memory BIO.
enum BIOText {
    static func capture(_ body: (OpaquePointer) -> Bool) -> String? {
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        defer { BIO_free(bio) }
        guard body(bio) else {
            _ = OpenSSLError.drain()
            return nil
        }
        return String(decoding: drainBytes(bio), as: UTF8.self)
    }

    /// Everything readable from a memory BIO.
    static func drainBytes(_ bio: OpaquePointer) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32($0.count)) }
            if count <= 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<Int(count)])
        }
    }
}
