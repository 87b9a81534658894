"""A scripted local model behind the model providers' real wire protocols.

It is not a language model: rules read the task a request carries (its instruction, tools,
schema and the documents it shows) and answer in the shape asked. `orchestrator demo` runs
with it when no key is given, and says so; tests run the real anthropic and openai SDKs
against it. Requests are validated with the SDKs' own parameter types, answers built as
their response models, so a client that sends what the API would refuse fails here too.
"""
