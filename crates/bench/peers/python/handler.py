"""A Python peer for bedrock-stream's cold-start benchmark: the seed's logic with boto3.

The Python Lambda runtime has no response streaming, so this handler reads Bedrock's stream to
the end and returns the whole completion as one function-URL response: its first byte at the
client is its last. It runs under the Lambda Runtime Interface Client from PyPI (awslambdaric).
The Bedrock endpoint comes from BEDROCK_ENDPOINT_URL (the local endpoint).
"""

import base64
import json
import os

import boto3

client = boto3.client(
    "bedrock-runtime",
    region_name=os.environ["AWS_REGION"],
    endpoint_url=os.environ.get("BEDROCK_ENDPOINT_URL"),
)


def handler(event, context):
    body = event["body"]
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body)
    request = json.loads(body)
    params = dict(request["modelParams"])
    params["prompt"] = f"\n\nHuman: {params['prompt']}\n\nAssistant:"
    response = client.invoke_model_with_response_stream(
        **request["bedrockParams"], body=json.dumps(params)
    )
    parts = []
    for event in response["body"]:
        if "chunk" in event:
            parts.append(json.loads(event["chunk"]["bytes"])["completion"])
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "text/plain; charset=utf-8"},
        "body": "".join(parts),
    }
