"""fhir_ivc.client"""
