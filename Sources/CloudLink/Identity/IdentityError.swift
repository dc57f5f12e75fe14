import COpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import FoundationEssentials
import SystemCalls

/// Why a device identity (certificate chain, private key, trust anchors) cannot be used.
///
/// Every case carries what failed (the file, the certificate, the check) and its
/// ``description`` says what to do. Cases that come from OpenSSL carry the drained error queue
/// (``OpenSSLError``), oldest entry first.
public enum IdentityError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A file could not be read, written or created: `operation` is the libc function.
    case file(path: String, operation: String, errno: Int32, reason: String)
    /// The file holds no PEM certificate (`-----BEGIN CERTIFICATE-----`).
    case noCertificate(path: String, errors: [OpenSSLError])
    /// A PEM block is present but cannot be decoded (`what`: "certificate 2", "private key").
    case malformedPEM(path: String, what: String, errors: [OpenSSLError])
    /// The private key is encrypted; the agent has no one to ask for a passphrase.
    case encryptedKey(path: String)
    /// The private key file can be read by group or others (`mode` is the permission bits).
    case keyFilePermissions(path: String, mode: UInt32)
    /// The key path is a symbolic link: key files are opened only directly (`O_NOFOLLOW`).
    case keyFileSymlink(path: String)
    /// The key path is not a regular file (a folder, a FIFO, a device).
    case keyFileNotRegular(path: String)
    /// The key file belongs to another user than the one the agent runs as (`user`), and not to root.
    case keyFileOwner(path: String, owner: UInt32, user: UInt32)
    /// The key is of a type, curve or size the agent refuses (`key`: "RSA 1024", "EC secp384r1").
    case unsupportedKey(path: String?, key: String, reason: String)
    /// The private key does not belong to the certificate's public key.
    case keyMismatch(certificatePath: String, keyPath: String, certificateKey: String, key: String,
                     errors: [OpenSSLError])
    /// `now` is past notAfter.
    case expired(subject: String, notAfter: Date, now: Date)
    /// `now` is before notBefore.
    case notYetValid(subject: String, notBefore: Date, now: Date)
    /// The leaf's CN is not the device id (IoT Hub CA authentication requires CN = device id).
    case deviceIDMismatch(expected: String, commonName: String?)
    /// Chain verification against the trust anchors failed: OpenSSL's verify error (`code`,
    /// text from `X509_verify_cert_error_string`), at `depth` (0 = leaf) on certificate `subject`.
    case chainVerification(code: Int32, error: String, depth: Int32, subject: String?, errors: [OpenSSLError])
    /// The trust anchor file or folder holds no certificate.
    case noTrustAnchors(path: String)
    /// A key URI (``KeyLocation/provider(uri:provider:)``) could not be opened: `problem` says
    /// which step failed.
    case keyURI(uri: String, problem: String, errors: [OpenSSLError])
    /// Any other OpenSSL call that failed (`operation`: the function or step).
    case openSSL(operation: String, errors: [OpenSSLError])
    /// A certificate chain DPS issued cannot be used (`problem`: not base64 or DER, no certificate
    /// for the requested key).
    case issuedCertificate(problem: String, errors: [OpenSSLError])

    public var description: String {
        switch self {
        case let .file(path, operation, errno, reason):
            let hint = switch errno {
            case ENOENT: "check the path (configuration or command line)"
            case EACCES, EPERM: "check the file's owner and permissions against the user the agent runs as"
            case EISDIR: "give a file, not a folder"
            default: "check the file and the disk"
            }
            return "\(operation) \(path) failed: \(reason) (errno \(errno)); \(hint)"
        case let .noCertificate(path, errors):
            return "\(path) holds no PEM certificate (expected -----BEGIN CERTIFICATE-----); give the device "
                + "certificate chain in PEM, leaf first\(errors.summary)"
        case let .malformedPEM(path, what, errors):
            return "\(path): cannot decode the \(what): the PEM block is damaged or of another kind; "
                + "re-export it in PEM\(errors.summary)"
        case let .encryptedKey(path):
            return "\(path) is an encrypted private key and the agent cannot ask for a passphrase; store it "
                + "unencrypted with owner-only permissions: openssl pkey -in \(path) -out KEY.new && "
                + "chmod 600 KEY.new"
        case let .keyFilePermissions(path, mode):
            return "private key \(path) has mode \(octal(mode)) and can be read by group or others; the agent "
                + "refuses it: run `chmod 600 \(path)`"
        case let .keyFileSymlink(path):
            return "private key \(path) is a symbolic link; the agent opens key files only directly, so a link "
                + "cannot swap in another file: give the path of the file itself"
        case let .keyFileNotRegular(path):
            return "private key \(path) is not a regular file; give the path of the PEM key file"
        case let .keyFileOwner(path, owner, user):
            return "private key \(path) belongs to user id \(owner), but the agent runs as user id \(user); the "
                + "agent refuses a key another user could change: run `chown \(user) \(path)`"
        case let .unsupportedKey(path, key, reason):
            let location = path.map { " in \($0)" } ?? ""
            return "unsupported key \(key)\(location): \(reason); use an EC P-256 or P-384 key or RSA with at least "
                + "2048 bits"
        case let .keyMismatch(certificatePath, keyPath, certificateKey, key, errors):
            return "private key \(keyPath) (\(key)) does not belong to certificate \(certificatePath) "
                + "(\(certificateKey)); give the key the certificate was issued for\(errors.summary)"
        case let .expired(subject, notAfter, now):
            let ago = UTC.span(now.timeIntervalSince(notAfter))
            return "certificate \(subject) expired on \(UTC.text(notAfter)) (\(ago) ago, now \(UTC.text(now))); "
                + "the hub refuses it (401003): issue a new certificate with the same CN from the same CA"
        case let .notYetValid(subject, notBefore, now):
            let wait = UTC.span(notBefore.timeIntervalSince(now))
            return "certificate \(subject) is not valid before \(UTC.text(notBefore)) "
                + "(in \(wait), now \(UTC.text(now))); "
                + "check the device clock (NTP) or use a certificate whose validity has started"
        case let .deviceIDMismatch(expected, commonName):
            return "certificate CN is \(commonName.map { "\"\($0)\"" } ?? "missing"), expected the device id "
                + "\"\(expected)\"; IoT Hub CA authentication requires CN = device id: issue a certificate with "
                + "CN=\(expected) or fix the configured device id"
        case let .chainVerification(code, error, depth, subject, errors):
            let at = subject.map { " (\($0))" } ?? ""
            return "certificate chain does not verify: \(error) (verify error \(code)) at depth \(depth)\(at); "
                + "\(Self.verifyHint(code))\(errors.summary)"
        case let .noTrustAnchors(path):
            return "\(path) holds no CA certificate; give a PEM file or a folder of PEM files with the root "
                + "(and any intermediate) CA"
        case let .keyURI(uri, problem, errors):
            return "key \(uri): \(problem); check that the key exists (tpm2_getcap handles-persistent), that the "
                + "TPM is reachable through \(KeyLocation.tctiVariable) (with a resource manager: tpm2-abrmd or "
                + "/dev/tpmrm0) and that tpm2-openssl is installed\(errors.summary)"
        case let .openSSL(operation, errors):
            return "\(operation) failed\(errors.summary)"
        case let .issuedCertificate(problem, errors):
            return "the certificate chain DPS issued cannot be used: \(problem); the agent keeps the onboarding "
                + "certificate and provisions again (check the issuing CA configured in DPS)\(errors.summary)"
        }
    }

    static func verifyHint(_ code: Int32) -> String {
        switch code {
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
             X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
            "the trust anchors lack the CA that issued it, or the certificate file lacks the intermediate: "
                + "append the intermediate to the certificate file (leaf first) and check the CA file"
        case X509_V_ERR_CERT_HAS_EXPIRED: "a certificate in the chain has expired: renew it"
        case X509_V_ERR_CERT_NOT_YET_VALID: "a certificate in the chain is not valid yet: check the clock"
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
            "the chain ends in a self-signed certificate that is not a trust anchor: check the CA file"
        case X509_V_ERR_INVALID_PURPOSE:
            "the certificate is not meant for this use (extendedKeyUsage): issue one with the right usage"
        default: "check the certificate chain against the CA file"
        }
    }
}

func octal(_ mode: UInt32) -> String {
    let digits = String(mode & 0o7777, radix: 8)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

extension IdentityError {
    init(_ error: SystemError, path: String) {
        self = .file(path: path, operation: error.function, errno: error.errno, reason: error.reason)
    }
}
