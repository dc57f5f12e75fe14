import Identity
import IoTHub

extension HubClient.Settings {
    /// What would make every connection fail, or stop the link for good, found before it starts:
    /// a host or expected host name that is not one, a device or model id IoT Hub refuses, a
    /// keep-alive over its limit, a certificate, key or trust-anchor file that cannot be loaded.
    /// An agent checks this at start and exits with the reasons (exit 64) rather than run with a
    /// link that never comes up while the process looks healthy. Empty: usable.
    public func problems() -> [String] {
        var problems: [String] = []
        if !IoTHubDeviceConnection.isValidHostName(host) {
            problems.append("the hub host '\(host.prefix(256))' is not a host name or an IP address")
        }
        if let expectedHostName, !IoTHubDeviceConnection.isValidHostName(expectedHostName) {
            problems.append("the expected host name '\(expectedHostName.prefix(256))' is not a host name or an IP address")
        }
        if problems.isEmpty {
            let connection = IoTHubDeviceConnection(hostName: expectedHostName ?? host, deviceID: deviceID, modelID: modelID,
                                                    keepAliveSeconds: keepAliveSeconds)
            do throws(IoTHubError) {
                _ = try connection.sessionConfiguration(inFlightWindow: inFlightWindow)
            } catch {
                problems.append("\(error)")
            }
        }
        if inFlightWindow < 1 { problems.append("the in-flight window is \(inFlightWindow); it must be at least 1") }
        do {
            _ = try X509Identity.load(certificateFile: certificateFile, keyFile: keyFile)
        } catch {
            problems.append("the device certificate and key: \(error)")
        }
        do {
            _ = try TrustAnchors.at(trustAnchors)
        } catch {
            problems.append("the hub's trust anchors: \(error)")
        }
        return problems
    }
}
