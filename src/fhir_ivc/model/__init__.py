"""fhir_ivc.model"""
