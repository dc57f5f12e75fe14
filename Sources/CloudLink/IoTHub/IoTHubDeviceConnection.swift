import MQTT

/// The CONNECT a device (or module) sends to IoT Hub with X.509 authentication (protocol
/// sheet A.2, B.1).
///
/// ## Contract
/// - Client id: `{deviceId}` (module: `{deviceId}/{moduleId}`).
/// - User name: `{host}/{deviceId}[/{moduleId}]/?api-version=2021-04-12[&model-id={DTMI, percent-encoded}]`.
/// - No password: the TLS client certificate authenticates (A.2: omit it, do not send an empty one).
/// - Clean session `false` by default, so C2D messages and QoS 1 state survive reconnects (A.6).
/// - Keep-alive at most 1177 s (A.5).
public struct IoTHubDeviceConnection: Sendable, Hashable {
    /// `{hubName}.azure-devices.net`, an IoT Edge gateway's name, or LocalHub's.
    public var hostName: String
    public var deviceID: String
    public var moduleID: String?
    /// IoT Plug and Play model id, e.g. `dtmi:com:example:EnvSensor;1` (B.1).
    public var modelID: String?
    public var apiVersion: String
    public var keepAliveSeconds: UInt16
    public var cleanSession: Bool

    public init(hostName: String, deviceID: String, moduleID: String? = nil, modelID: String? = nil,
                apiVersion: String = IoTHubLimits.apiVersion,
                keepAliveSeconds: UInt16 = IoTHubLimits.defaultKeepAliveSeconds, cleanSession: Bool = false) {
        self.hostName = hostName
        self.deviceID = deviceID
        self.moduleID = moduleID
        self.modelID = modelID
        self.apiVersion = apiVersion
        self.keepAliveSeconds = keepAliveSeconds
        self.cleanSession = cleanSession
    }

    public func clientID() throws(IoTHubError) -> String {
        try IoTHubIdentifier.validateDeviceID(deviceID)
        guard let moduleID else { return deviceID }
        try IoTHubIdentifier.validateModuleID(moduleID)
        return "\(deviceID)/\(moduleID)"
    }

    /// A DNS name or an IP address as the user name and a certificate check can carry it: ASCII
    /// letters, digits, `.`, `-` and `:` (an IPv6 address), not empty.
    public static func isValidHostName(_ name: String) -> Bool {
        !name.isEmpty && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == ":") }
    }

    public func username() throws(IoTHubError) -> String {
        guard Self.isValidHostName(hostName) else { throw .invalidHostName(hostName) }
        var name = "\(hostName)/\(try clientID())/?api-version=\(IoTHubPercentEncoding.encode(apiVersion))"
        if let modelID {
            guard modelID.hasPrefix("dtmi:"), modelID.count > 5 else { throw .invalidModelID(modelID) }
            name += "&model-id=\(IoTHubPercentEncoding.encode(modelID))"
        }
        return name
    }

    public func connectPacket() throws(IoTHubError) -> MQTTPacket.Connect {
        guard keepAliveSeconds <= IoTHubLimits.maximumKeepAliveSeconds else {
            throw .keepAliveTooLong(seconds: keepAliveSeconds, maximum: IoTHubLimits.maximumKeepAliveSeconds)
        }
        return MQTTPacket.Connect(clientID: try clientID(), cleanSession: cleanSession,
                                  keepAliveSeconds: keepAliveSeconds, will: nil, username: try username(),
                                  password: nil)
    }

    /// A session configuration for this connection: the CONNECT fields above, and a maximum
    /// packet size that fits a 256 KB telemetry message plus its topic (A.12).
    public func sessionConfiguration(pingTimeout: Duration = .seconds(30), inFlightWindow: Int = 20,
                                     maximumQueuedPublishes: Int = 1000) throws(IoTHubError) -> MQTTClientSession.Configuration {
        let connect = try connectPacket()
        return MQTTClientSession.Configuration(
            clientID: connect.clientID, username: connect.username, password: nil, will: nil,
            cleanSession: connect.cleanSession, keepAliveSeconds: connect.keepAliveSeconds,
            pingTimeout: pingTimeout, inFlightWindow: inFlightWindow, maximumQueuedPublishes: maximumQueuedPublishes,
            maximumPacketSize: IoTHubLimits.maximumTelemetryMessageBytes + 64 * 1024)
    }
}
