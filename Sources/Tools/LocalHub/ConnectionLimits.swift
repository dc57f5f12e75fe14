/// What one LocalHub lets devices hold, so a flood of connections, a device that never starts
/// TLS or one that never reads cannot lock real devices out or grow the hub without bound.
public struct ConnectionLimits: Sendable {
    /// A connection that has not completed its TLS handshake by then is closed.
    public var tlsHandshakeTimeout: Duration = .seconds(10)
    /// Open device connections; beyond, new ones are closed at once.
    public var maximumConnections = 10_000
    /// Connections not yet past CONNACK (TLS handshake, CONNECT, authentication).
    public var maximumUnauthenticatedConnections = 256
    /// Bytes written to a connection and not yet taken by its socket; a device that lets more
    /// pile up (it does not read) is disconnected. Reads stop earlier, as soon as the channel
    /// is not writable, so its own requests cannot feed the pile.
    public var maximumPendingOutputBytes = 4 << 20

    public init() {}
}
