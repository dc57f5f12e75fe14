// libFuzzer harness for desired-property patches as the device receives them: the PUBLISH topic
// `$iothub/twin/PATCH/properties/desired/?$version=n` and a JSON body read tolerantly (one bad
// value must not block the others), merged into the twin with RFC 7386. Compiled with
// Sources/Common/JSON and Sources/CloudLink/IoTHub (with MQTT and DeviceID) into one module by
// scripts/fuzz.sh. The input is the topic's query tail, a newline, then the body.
//
// Properties checked (a violation traps, which libFuzzer reports as a crash):
// 1. Topic parsing, tolerant body parsing and merging never crash.
// 2. Every undecodable value is reported at a path that exists in the body and reads as null there.
// 3. Merging is idempotent (applying the same patch twice equals applying it once), a null member
//    removes its key, every other member of the patch is present afterwards, and the merged twin
//    is written and read back unchanged.

@_cdecl("LLVMFuzzerTestOneInput")
public func twinPatchFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
    let query = String(decoding: bytes[..<newline], as: UTF8.self)
    let body = Array(bytes[min(newline + 1, bytes.count)...])

    if let patch = try? IoTHubTopic.parseDesiredPatch(IoTHubTopic.twinDesiredPrefix + query), patch.version < 0 {
        fatalError("negative $version \(patch.version) accepted from \(query)")
    }
    guard let (value, undecodable) = try? JSONValue.parseTolerating(body) else { return 0 }
    for bad in undecodable {
        var node: JSONValue? = value
        for key in bad.path {
            switch node {
            case .object(let members)?: node = members[key]
            case .array(let items)?: node = Int(key).flatMap { items.indices.contains($0) ? items[$0] : nil }
            default: node = nil
            }
        }
        guard node == .null else { fatalError("undecodable \(bad) does not point at a null in \(value)") }
    }

    let twin = (try? JSONValue.parse(#"{"sendFrequency":"5s","thresholds":{"temperature":{"high":30}},"$version":4}"#)) ?? .null
    let once = twin.merging(value)
    guard once.merging(value) == once else { fatalError("merging \(value) twice differs from once") }
    if case .object(let changes) = value, case .object(let merged) = once {
        for (key, change) in changes {
            if change == .null {
                guard merged[key] == nil else { fatalError("null member \(key) kept after merge") }
            } else if merged[key] == nil {
                fatalError("member \(key) of the patch missing after merge")
            }
        }
    }
    guard (try? JSONValue.parse(once.encoded())) == once else { fatalError("merged twin \(once) does not round-trip") }
    return 0
}
