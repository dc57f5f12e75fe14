import Foundation
import Identity
import JSON
import TestSupport
import Testing

/// `localhub serve --dps-port` and `localhub dps …` as an engineer uses them: the startup line,
/// enrollments through the admin socket, a device provisioning over TLS, its registration listed.
extension LocalHubCLITests {
    @Test func serveWithDpsThenEnrollListProvisionAndShowTheRegistration() throws {
        let folder = try TemporaryDirectory(prefix: "localhub-dps-cli")
        let state = folder.file("state")
        let pki = try DevPKI.generate(outputDirectory: folder.file("pki"), devices: ["dev-1", "dev-2"], now: Date())
        let (serve, lines) = try self.serve(["--state-dir", state, "--port", "0", "--dps-port", "0", "--dps-ws-port", "0", "--id-scope", "0ne00CLI",
                                             "--cert", pki.files.serverCertificate, "--key", pki.files.serverKey,
                                             "--log-level", "warning"])
        defer { if serve.isRunning { serve.terminate() } }
        let dpsLine = try #require(lines.first { $0.hasPrefix("LocalHub DPS listening on 127.0.0.1:") }, "serve said: \(lines)")
        #expect(dpsLine.hasSuffix(" (id scope 0ne00CLI, assigns to localhost)"))
        let port = try #require(UInt16(dpsLine.dropFirst("LocalHub DPS listening on 127.0.0.1:".count).prefix { $0.isNumber }))
        #expect(lines.contains { $0.hasPrefix("LocalHub DPS over WebSockets on wss://127.0.0.1:") && $0.hasSuffix("/$iothub/websocket") },
                "serve said: \(lines)")

        let group = try localhub(["dps", "add-group", "fleet", "--ca", pki.files.rootCertificate, "--state-dir", state])
        #expect(group.status == 0, "\(group.stderr)")
        #expect(group.stdout == "enrolled group fleet (CN=FieldAgent Dev Root CA, O=FieldAgent Dev, enabled)\n")
        let device = try localhub(["dps", "add-device", "dev-2", "--cert", try #require(pki.files.devices["dev-2"]).certificate,
                                   "--device-id", "boiler-2", "--state-dir", state])
        #expect(device.stdout == "enrolled individual dev-2 (CN=dev-2, O=FieldAgent Dev, enabled) → device boiler-2\n", "\(device.stderr)")
        let disabled = try localhub(["dps", "disable", "dev-2", "--state-dir", state])
        #expect(disabled.stdout.contains("individual dev-2 (CN=dev-2, O=FieldAgent Dev, disabled)"))
        let list = try localhub(["dps", "list", "--state-dir", state])
        #expect(list.stdout.split(separator: "\n").count == 2)
        #expect(FileManager.default.fileExists(atPath: state + "/dps.json"))

        // dev-1 provisions over TLS through the group.
        let files = try #require(pki.files.devices["dev-1"])
        let client = try TestDevice(port: port, certificateFile: files.certificate, keyFile: files.key, trust: pki.files.caChain)
        #expect(try client.connect("dev-1", username: "0ne00CLI/registrations/dev-1/api-version=2019-03-31") == .accepted)
        _ = try client.subscribe(["$dps/registrations/res/#"])
        try client.publish("$dps/registrations/PUT/iotdps-register/?$rid=1", #"{"registrationId":"dev-1"}"#)
        #expect(try client.nextPublish()?.topic == "$dps/registrations/res/202/?$rid=1&retry-after=1")

        let registrations = try localhub(["dps", "registrations", "--state-dir", state])
        let row = registrations.stdout.split(separator: "\n").first { $0.hasPrefix("dev-1 ") }.map { $0.split(separator: " ") }
        #expect(row?.prefix(4) == ["dev-1", "dev-1", "localhost", "no"], "\(registrations.stdout)")
        let devices = try localhub(["device", "list", "--state-dir", state])
        #expect(devices.stdout.contains("dev-1 "), "DPS registered the device at the hub: \(devices.stdout)")

        let removed = try localhub(["dps", "remove", "fleet", "--state-dir", state])
        #expect(removed.stdout == "removed fleet\n")
        let unknown = try localhub(["dps", "enable", "nope", "--state-dir", state])
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("no DPS enrollment is named 'nope'; list them: localhub dps list"))

        serve.interrupt()
        serve.waitUntilExit()
        #expect(serve.terminationStatus == 0)
    }
}
