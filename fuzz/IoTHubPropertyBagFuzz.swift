// libFuzzer harness for IoT Hub property bags and percent-encoding (the `{bag}` tail of
// telemetry and cloud-to-device topics). Compiled with Sources/CloudLink/IoTHub, MQTT and DeviceID
// into one module by scripts/fuzz.sh.
//
// Properties checked (a violation traps, which libFuzzer reports as a crash):
// 1. Parsing and decoding never crash, whatever the text.
// 2. decode(encode(s)) == s for any text, and the encoding uses unreserved bytes and `%XX` only.
// 3. A bag that parses is encoded into a bag that parses back to the same entries, in order.
// 4. Message properties read from a bag give a bag that reads back to the same properties.

@_cdecl("LLVMFuzzerTestOneInput")
public func iotHubPropertyBagFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)

    let encoded = IoTHubPercentEncoding.encode(text)
    guard encoded.utf8.allSatisfy({ IoTHubPercentEncoding.isUnreserved($0) || $0 == UInt8(ascii: "%") }) else {
        fatalError("encode(\(text)) = \(encoded) has reserved bytes")
    }
    guard let decoded = try? IoTHubPercentEncoding.decode(encoded), decoded == text else {
        fatalError("decode(encode(\(text))) is not \(text)")
    }
    _ = try? IoTHubPercentEncoding.decode(text)

    guard let bag = try? IoTHubPropertyBag(parsing: text) else { return 0 }
    guard let again = try? IoTHubPropertyBag(parsing: bag.encoded) else {
        fatalError("\(text) parsed as \(bag), encoded as \(bag.encoded), which does not parse")
    }
    guard again == bag else { fatalError("\(text) parsed as \(bag), round trip gave \(again)") }

    let properties = IoTHubMessageProperties(bag: bag)
    if let written = try? properties.propertyBag() {
        guard let reread = try? IoTHubPropertyBag(parsing: written.encoded) else {
            fatalError("properties \(properties) wrote \(written.encoded), which does not parse")
        }
        guard IoTHubMessageProperties(bag: reread) == properties else {
            fatalError("properties \(properties) wrote \(written.encoded), read back as \(IoTHubMessageProperties(bag: reread))")
        }
    }
    return 0
}
