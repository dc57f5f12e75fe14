import Foundation
import Identity
import TestSupport
import Testing
import Transport

/// Certificates made by the `openssl` command (not by DevPKI), for servers whose certificates
/// the agent must refuse: a test CA and server certificates with chosen names.
struct OpenSSLCertificates {
    static let path = "/usr/bin/openssl"
    static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: path) }

    let directory: TemporaryDirectory
    var caCertificate: String { directory.path + "/ca.pem" }
    var trust: TrustAnchors { .file(caCertificate) }

    init() throws {
        directory = try TemporaryDirectory(prefix: "fieldagent-openssl")
        try Self.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                          "-keyout", directory.path + "/ca.key", "-out", caCertificate, "-days", "2",
                          "-subj", "/CN=FieldAgent openssl test CA",
                          "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"])
    }

    /// A P-256 server certificate `NAME.pem` (key `NAME.key`, mode 0600) with common name `commonName`
    /// and the subjectAltName `alternativeNames` (`DNS:hub.example.test`), none when nil.
    func server(_ name: String, commonName: String, alternativeNames: String?) throws -> (certificate: String, key: String) {
        let base = directory.path + "/" + name
        try Self.openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                          "-keyout", base + ".key", "-out", base + ".csr", "-subj", "/CN=\(commonName)"])
        var extensions = "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
        if let alternativeNames { extensions += "subjectAltName=\(alternativeNames)\n" }
        try extensions.write(toFile: base + ".ext", atomically: true, encoding: .utf8)
        try Self.openssl(["x509", "-req", "-in", base + ".csr", "-CA", caCertificate, "-CAkey", directory.path + "/ca.key",
                          "-CAcreateserial", "-days", "1", "-extfile", base + ".ext", "-out", base + ".pem"])
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: base + ".key")
        return (base + ".pem", base + ".key")
    }

    @discardableResult
    static func openssl(_ arguments: [String]) throws -> String {
        let (status, output) = try OpenSSLCommand.run(arguments)
        guard status == 0 else { throw TestFailure("openssl \(arguments.joined(separator: " ")): \(output)") }
        return output
    }
}

/// `openssl s_server` on 127.0.0.1 and a port the kernel picks (read from its `ACCEPT` line),
/// for one connection: a TLS server that is not ours.
final class OpenSSLServer {
    let process = Process()
    let port: UInt16

    init(certificate: String, key: String, arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: OpenSSLCertificates.path)
        process.arguments = ["s_server", "-accept", "127.0.0.1:0", "-cert", certificate, "-key", key, "-naccept", "1"]
            + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = Pipe()
        try process.run()
        // `ACCEPT 127.0.0.1:PORT` comes once the socket listens; reading blocks until it does.
        var text = ""
        while !text.contains("\n") || !text.contains("ACCEPT") {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { throw TestFailure("openssl s_server ended before listening: \(text)") }
            text += String(decoding: data, as: UTF8.self)
        }
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("ACCEPT") }),
              let port = line.split(separator: ":").last.flatMap({ UInt16($0) }) else {
            throw TestFailure("no port in openssl s_server's output: \(text)")
        }
        self.port = port
    }

    deinit {
        // SIGKILL: the test runner's children may inherit an ignored SIGTERM.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
