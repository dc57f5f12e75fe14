import Foundation
import Identity
import TestSupport
import Testing
import Transport

/// A dev PKI for one test: OpenSSL checks certificates against the real clock during the
/// handshake, so these are issued at the real "now".
struct TestPKI {
    let directory: TemporaryDirectory
    let bundle: DevPKI.Bundle

    init(devices: [String] = ["device-1"]) throws {
        directory = try TemporaryDirectory(prefix: "fieldagent-transport")
        bundle = try DevPKI.generate(outputDirectory: directory.path, devices: devices, now: Date())
    }

    var trust: TrustAnchors { .file(bundle.files.rootCertificate) }

    func serverIdentity() throws -> X509Identity {
        try X509Identity.load(certificateFile: bundle.files.serverCertificate, keyFile: bundle.files.serverKey)
    }

    func deviceIdentity(_ id: String = "device-1") throws -> X509Identity {
        guard let files = bundle.files.devices[id] else { throw TestFailure("no device \(id)") }
        return try X509Identity.load(certificateFile: files.certificate, keyFile: files.key)
    }

    /// A listener on 127.0.0.1 presenting the server certificate; with `requireClientCertificate`
    /// it accepts only clients whose certificate chains to this PKI's root.
    func listener(requireClientCertificate: Bool = true,
                  adjust: (inout TLSConfiguration) -> Void = { _ in }) throws -> TLSListener {
        var configuration = TLSConfiguration.server(identity: try serverIdentity(),
                                                    clientTrustAnchors: requireClientCertificate ? trust : nil)
        adjust(&configuration)
        return try TLSListener(configuration: configuration)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs the server side of a test on its own thread (the calls block), so the test's thread can
/// be the client.
final class ServerThread<Value: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<Value, TransportError>?

    init(_ body: @escaping @Sendable () throws(TransportError) -> Value) {
        let thread = Thread { [self] in
            do throws(TransportError) { result = .success(try body()) } catch { result = .failure(error) }
            done.signal()
        }
        thread.start()
    }

    /// Waits (at most 30 s, so a broken test fails instead of hanging) for the server's result.
    func join() throws -> Result<Value, TransportError> {
        guard done.wait(timeout: .now() + 30) == .success, let result else {
            throw TestFailure("the server thread did not finish within 30 s")
        }
        return result
    }
}

/// The error a client call threw, or nil (and a recorded issue) if it did not throw.
func transportError<T>(_ body: () throws -> T, sourceLocation: SourceLocation = #_sourceLocation) -> TransportError? {
    do {
        _ = try body()
        Issue.record("expected a TransportError, got success", sourceLocation: sourceLocation)
        return nil
    } catch let error as TransportError {
        return error
    } catch {
        Issue.record("expected a TransportError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
