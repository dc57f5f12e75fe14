import Foundation
import Identity
import Testing
import TestSupport

/// 2027-01-15 08:00:00 UTC: the injected "now" of these tests.
let testNow = Date(timeIntervalSince1970: 1_800_000_000)
let day: TimeInterval = 86_400

/// The `openssl` command, an independent oracle for what Identity computes with the C API.
enum OpenSSLCLI {
    static let path = OpenSSLCommand.path
    static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: path) }

    /// Runs `openssl ARGUMENTS`; returns the exit status and stdout + stderr.
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try OpenSSLCommand.run(arguments)
    }

    /// `openssl x509 -noout -fingerprint -sha1|-sha256` as IoT Hub shows it: upper case, no colons.
    static func fingerprint(_ file: String, digest: String) throws -> String {
        let (status, output) = try run(["x509", "-in", file, "-noout", "-fingerprint", "-\(digest)"])
        #expect(status == 0, "openssl x509 failed: \(output)")
        let value = output.split(separator: "=", maxSplits: 1).last ?? ""
        return value.filter { $0 != ":" && !$0.isWhitespace }.uppercased()
    }
}

/// The error a throwing call threw, or nil (and a recorded issue) if it did not throw.
func identityError<T>(_ body: () throws -> T, sourceLocation: SourceLocation = #_sourceLocation) -> IdentityError? {
    do {
        _ = try body()
        Issue.record("expected an IdentityError, got success", sourceLocation: sourceLocation)
        return nil
    } catch let error as IdentityError {
        return error
    } catch {
        Issue.record("expected an IdentityError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

func fileMode(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
}
