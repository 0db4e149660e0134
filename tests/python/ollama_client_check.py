"""Checks that the official Ollama Python client accepts an agentbench stub.

Usage: ollama_client_check.py URL [EXPECTED_TEXT_FILE]

Verified with ollama==0.6.3 (see requirements.txt). Calls generate and chat, streamed and
not, plus list(), show() and ps(); asserts the text, the final chunk's fields, and that an
unknown model raises ResponseError with status 404. Prints `ok` on success.
"""

import sys

import ollama

MODEL = 'gemma3:latest'


def main() -> None:
  url = sys.argv[1]
  expected = None
  if len(sys.argv) > 2:
    with open(sys.argv[2], encoding='utf-8') as f:
      expected = f.read()
  client = ollama.Client(host=url)

  # generate, streamed
  parts = list(client.generate(model=MODEL, prompt='Analyse the data.', stream=True, options={'num_ctx': 1024, 'temperature': 0.6}))
  assert len(parts) >= 2, parts
  assert all(not p.done for p in parts[:-1])
  final = parts[-1]
  assert final.done is True and final.done_reason == 'stop', final
  assert final.eval_count and final.eval_count > 0, final
  assert final.total_duration and final.total_duration > 0, final
  text = ''.join(p.response for p in parts)
  assert text, 'empty generate text'
  if expected is not None:
    assert text == expected, (text[:80], expected[:80])

  # generate, one object
  one = client.generate(model=MODEL, prompt='Analyse the data.', stream=False)
  assert one.done is True and one.eval_count and one.eval_count > 0, one
  assert one.response == text

  # chat, streamed
  messages = [{'role': 'user', 'content': 'Write the report.'}]
  chunks = list(client.chat(model=MODEL, messages=messages, stream=True))
  final = chunks[-1]
  assert final.done is True and final.eval_count and final.eval_count > 0, final
  chat_text = ''.join(c.message.content or '' for c in chunks)
  assert chat_text == text
  assert all(c.message.role == 'assistant' for c in chunks)

  # chat, one object
  one = client.chat(model=MODEL, messages=messages, stream=False)
  assert one.done is True and one.eval_count and one.eval_count > 0, one
  assert one.message.content == text

  # num_predict caps the output
  capped = client.generate(model=MODEL, prompt='x', stream=False, options={'num_predict': 3})
  assert capped.done_reason == 'length' and capped.eval_count == 3, capped

  # list, show, ps
  models = client.list().models
  assert [m.model for m in models] == [MODEL], models
  assert models[0].details.family and models[0].digest, models[0]
  shown = client.show(MODEL)
  assert shown.details.quantization_level and shown.details.parameter_size, shown
  assert shown.modelinfo is not None and shown.modified_at is not None, shown
  running = client.ps().models
  assert [m.model for m in running] == [MODEL], running
  assert running[0].expires_at is not None and running[0].size_vram is not None, running[0]

  # unknown model
  for call in (
    lambda: client.generate(model='nope:1b', prompt='x', stream=False),
    lambda: list(client.generate(model='nope:1b', prompt='x', stream=True)),
    lambda: client.chat(model='nope:1b', messages=messages, stream=False),
    lambda: client.show('nope:1b'),
  ):
    try:
      call()
    except ollama.ResponseError as e:
      assert e.status_code == 404, e
      assert 'not found' in e.error, e
    else:
      raise AssertionError('unknown model did not raise ResponseError')

  print('ok')


if __name__ == '__main__':
  main()
