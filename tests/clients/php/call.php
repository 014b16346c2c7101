<?php
// A field client: PHP's SoapClient (ext-soap) built from the served WSDL makes one call.
//
//   php call.php WSDL_URL < instruction.json
//
// The instruction: {"soap_version": "1.1" | "1.2", "operation": "AuthenticateUser",
// "parameters": {...}} where parameters is the operation's wrapper element as SoapClient
// takes it (child elements and attributes both as keys), and optionally "headers":
// [{"namespace", "name", "data": {...}}], SOAP headers sent as SoapHeader objects, the way
// Nmbrs connectors send AuthHeaderWithDomain, and "http_headers": {"Name": "value"}, HTTP
// headers sent through the stream context (the bridge's AuthenticationToken in Authorization
// for GetSigningLinks). Printed on stdout as JSON:
// {"result": ...} or {"fault": {"faultcode", "faultstring"}} as SoapClient surfaces them, and
// beside either the raw request and its HTTP headers as SoapClient sent them (Password="..."
// redacted) and the raw answer.

declare(strict_types=1);

function redacted(?string $text): ?string
{
    return $text === null ? null : preg_replace('/\bPassword="[^"]*"/', 'Password="(redacted)"', $text);
}

if ($argc !== 2) {
    fwrite(STDERR, "usage: php call.php WSDL_URL < instruction.json\n");
    exit(2);
}
$instruction = json_decode(stream_get_contents(STDIN), true, 512, JSON_THROW_ON_ERROR);
$httpHeaders = [];
foreach ($instruction['http_headers'] ?? [] as $name => $value) {
    $httpHeaders[] = "$name: $value";
}
$client = new SoapClient($argv[1], [
    'stream_context' => stream_context_create(['http' => ['header' => implode("\r\n", $httpHeaders)]]),
    'soap_version' => $instruction['soap_version'] === '1.2' ? SOAP_1_2 : SOAP_1_1,
    'cache_wsdl' => WSDL_CACHE_NONE,
    'exceptions' => true,
    'trace' => 1,
    'connection_timeout' => 10,
]);
$parameters = $instruction['parameters'] ?? [];
$headers = [];
foreach ($instruction['headers'] ?? [] as $header) {
    $headers[] = new SoapHeader($header['namespace'], $header['name'], $header['data']);
}
if ($headers) {
    $client->__setSoapHeaders($headers);
}
try {
    $output = ['result' => $client->__soapCall($instruction['operation'], [$parameters])];
} catch (SoapFault $fault) {
    $output = ['fault' => ['faultcode' => $fault->faultcode, 'faultstring' => $fault->faultstring]];
}
$output['request'] = redacted($client->__getLastRequest());
$output['request_headers'] = redacted($client->__getLastRequestHeaders());
$output['response'] = $client->__getLastResponse();
echo json_encode($output, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES), "\n";
