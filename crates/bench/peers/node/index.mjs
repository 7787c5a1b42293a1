// The seed's function, for the cold-start benchmark: a Node.js 20 handler with the AWS SDK for
// JavaScript v3 that calls InvokeModelWithResponseStream (Claude v2 text completions) and writes
// each completion chunk to the function URL's response stream as it arrives. It runs under the
// Lambda Runtime Interface Client from npm (aws-lambda-ric), which provides the `awslambda`
// global that the managed nodejs20.x runtime provides in Lambda.
//
// Written for the benchmark from the seed's README and request contract; the only change is
// that the Bedrock endpoint comes from BEDROCK_ENDPOINT_URL (the local endpoint).
import {
  BedrockRuntimeClient,
  InvokeModelWithResponseStreamCommand,
} from "@aws-sdk/client-bedrock-runtime";

const client = new BedrockRuntimeClient({
  region: process.env.AWS_REGION,
  endpoint: process.env.BEDROCK_ENDPOINT_URL,
});
const decoder = new TextDecoder();

export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
  const request = JSON.parse(event.isBase64Encoded ? Buffer.from(event.body, "base64") : event.body);
  const modelParams = {
    ...request.modelParams,
    prompt: `\n\nHuman: ${request.modelParams.prompt}\n\nAssistant:`,
  };
  const command = new InvokeModelWithResponseStreamCommand({
    ...request.bedrockParams,
    body: JSON.stringify(modelParams),
  });
  responseStream = awslambda.HttpResponseStream.from(responseStream, {
    statusCode: 200,
    headers: { "Content-Type": "text/plain; charset=utf-8" },
  });
  const response = await client.send(command);
  for await (const item of response.body) {
    if (item.chunk) {
      const chunk = JSON.parse(decoder.decode(item.chunk.bytes));
      responseStream.write(chunk.completion);
    }
  }
  responseStream.end();
});
